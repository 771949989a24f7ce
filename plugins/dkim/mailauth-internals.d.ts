/**
 * Types for the mailauth 4 internals the signer is built from. mailauth's public
 * `dkimSign` derives h= from the header fields present, so it cannot over-sign
 * (list a name once more than it occurs, RFC 6376 §8.15); sign.ts therefore composes
 * the same canonicalisation pieces `dkimSign` uses (lib/dkim/dkim-signer.js).
 */
declare module 'mailauth/lib/tools.js' {
  interface ParsedHeader {
    /** Lower-case field name. */
    key: string | null;
    casedKey: string | undefined;
    /** The whole field, folded as in the message, without the final CRLF. */
    line: Buffer;
  }
  const tools: {
    parseHeaders(buf: Buffer): { parsed: ParsedHeader[]; original: Buffer };
    formatSignatureHeaderLine(type: 'DKIM', values: Record<string, string | number>, folded: boolean): string;
    formatRelaxedLine(line: Buffer | string, suffix?: string): Buffer;
  };
  export default tools;
}

declare module 'mailauth/lib/dkim/body/index.js' {
  interface BodyHash {
    update(chunk: Buffer | null, final?: boolean): void;
    digest(encoding: 'base64'): string;
  }
  const body: { dkimBody(canonicalization: string, hashAlgo: string, maxBodyLength: number | false): BodyHash };
  export default body;
}

declare module 'mailauth/lib/dkim/header/index.js' {
  interface SigningHeaderLines {
    /** The h= value, names joined with ": ". */
    keys: string;
    headers: Array<{ line: Buffer }>;
  }
  const header: {
    generateCanonicalizedHeader(
      type: 'DKIM',
      signingHeaderLines: SigningHeaderLines,
      options: {
        signingDomain: string;
        selector: string;
        algorithm: string;
        canonicalization: string;
        bodyHash: string;
        signTime: Date;
      },
    ): { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, string | number> };
  };
  export default header;
}
