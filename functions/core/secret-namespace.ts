/**
 * A secret namespace: one database's segment in its generated keys' secret names
 * (`<secretPrefix>/tenants/<namespace>/<slug>/...`), so databases of one stage never share a secret.
 * One path segment of lowercase letters, digits and dashes. (No imports: the CLI, the construct and the
 * functions' environment schema all check it.)
 */
export const SECRET_NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
