// tests/sops.rs: reads a sealed Secret with implementations meshrender did not write.
//   node decrypt.mjs SEALED AGE_KEY_FILE DATA_KEY_HEX PLAINTEXT
// 1. sops-age (npm) decrypts SEALED with the age identity: its JSON must equal PLAINTEXT
//    parsed by the `yaml` package.
// 2. With DATA_KEY_HEX (the data key as Debian's `age -d` decrypted it from sops.age[0].enc),
//    Node's OpenSSL AES-256-GCM checks every value and the MAC as getsops/sops computes it:
//    SHA-512 over every leaf value in document order, upper-case hex, encrypted with
//    `lastmodified` as additional data.
// Prints "ok" or throws.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createDecipheriv, createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
const base = process.env.MESHRENDER_SOPS_AGE;
const require = createRequire(base + "/node_modules/");
const { decryptSops } = await import(require.resolve("sops-age"));
const YAML = require("yaml");
const [sealedFile, keyFile, dataKeyHex, plainFile] = process.argv.slice(2);
const sealedText = readFileSync(sealedFile, "utf8");
const secretKey = readFileSync(keyFile, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"));
const decrypted = await decryptSops(sealedText, { secretKey, fileType: "yaml" });
const plain = YAML.parse(readFileSync(plainFile, "utf8"));
if (!isDeepStrictEqual(decrypted, plain)) {
  throw new Error("sops-age decryption differs from the plaintext:\n" + JSON.stringify(decrypted) + "\n" + JSON.stringify(plain));
}
const key = Buffer.from(dataKeyHex, "hex");
const open = (enc, aad) => {
  const m = /^ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]$/.exec(enc);
  if (!m) throw new Error("not a sops value: " + enc);
  const d = createDecipheriv("aes-256-gcm", key, Buffer.from(m[2], "base64"));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(Buffer.from(m[3], "base64"));
  return Buffer.concat([d.update(Buffer.from(m[1], "base64")), d.final()]).toString("utf8");
};
const doc = YAML.parse(sealedText);
const { sops } = doc;
delete doc.sops;
const hash = createHash("sha512");
const walk = (v, path) => {
  if (v === null) return;
  if (typeof v === "object") {
    for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    return;
  }
  const secret = path.some((p) => new RegExp(sops.encrypted_regex).test(p));
  const value = secret ? open(v, path.join(":") + ":") : String(v);
  hash.update(value);
};
walk(doc, []);
const mac = hash.digest("hex").toUpperCase();
if (open(sops.mac, sops.lastmodified) !== mac) throw new Error("MAC mismatch");
console.log("ok");
