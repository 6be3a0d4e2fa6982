import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Read } from "./read-values.ts";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Reads a PEM file of one or more CA certificates and returns its text. Fails, with a reason that
 * names the path, when the file cannot be read, holds no PEM certificate, or one does not parse.
 */
export function readCaFile(path: string, readText: (path: string) => string = readUtf8): Read<string> {
  let text: string;
  try {
    text = readText(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `cannot read "${path}": ${reason}` };
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { ok: false, reason: `"${path}" holds no PEM certificate` };
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      return { ok: false, reason: `"${path}" holds a PEM certificate that does not parse` };
    }
  }
  return { ok: true, value: text };
}

function readUtf8(path: string): string {
  return readFileSync(path, "utf8");
}
