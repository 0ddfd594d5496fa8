// asl-validator 4 ships no types; the part the tests call.
declare module 'asl-validator' {
  interface AslResult {
    isValid: boolean;
    errors: Array<{ message: string; path?: string }>;
    errorsText(separator?: string): string;
  }
  export default function aslValidator(definition: unknown): AslResult;
}
