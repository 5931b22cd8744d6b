// Installs npm from the npm registry into a folder: berth's zero-config
// builder uses it because Debian's npm package is hundreds of packages.
// Usage: node fetch-npm.js VERSION-OR-RANGE DEST
"use strict";
const https = require("https");
const fs = require("fs");
const { execFileSync } = require("child_process");

const [spec, dest] = process.argv.slice(2);
const registry = process.env.npm_config_registry || "https://registry.npmjs.org";

function get(url, redirects = 5) {
  const headers = { accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8" };
  return new Promise((resolve, reject) => {
    https.get(url, { headers }, (res) => {
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location && redirects > 0) {
        res.resume();
        return resolve(get(new URL(res.headers.location, url).toString(), redirects - 1));
      }
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
      }
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
    }).on("error", reject);
  });
}

(async () => {
  // The registry resolves exact versions and dist-tags only: a major
  // (`10`) or `10.9` is the newest release under it.
  const packument = JSON.parse(await get(`${registry}/npm`));
  const numbers = (v) => v.split(".").map(Number);
  const newer = (a, b) => {
    const [x, y] = [numbers(a), numbers(b)];
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] > y[i];
    return false;
  };
  const version = packument["dist-tags"][spec] || (packument.versions[spec] ? spec : Object.keys(packument.versions)
    .filter((v) => /^\d+\.\d+\.\d+$/.test(v) && (v + ".").startsWith(spec + "."))
    .reduce((best, v) => (best === undefined || newer(v, best) ? v : best), undefined));
  if (!version) throw new Error(`no release matches ${spec}`);
  const manifest = packument.versions[version];
  const tarball = await get(manifest.dist.tarball);
  fs.mkdirSync(dest, { recursive: true });
  fs.writeFileSync("/tmp/npm.tgz", tarball);
  execFileSync("tar", ["-xzf", "/tmp/npm.tgz", "-C", dest, "--strip-components=1"]);
  fs.unlinkSync("/tmp/npm.tgz");
  console.log(`npm ${version} installed in ${dest}`);
})().catch((e) => {
  console.error(`Unable to install npm ${spec}: ${e.message}`);
  process.exit(1);
});
