#!/usr/bin/env node
// Remove the registry URLs ("resolved") from package-lock.json so that
// `npm ci` fetches from whatever registry npm is configured with. Run after
// any `npm install` that changes the lock file.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
let n = 0;
for (const pkg of Object.values(lock.packages ?? {})) {
  if ('resolved' in pkg) {
    delete pkg.resolved;
    n++;
  }
}
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`stripped ${n} resolved URL(s) from package-lock.json`);
