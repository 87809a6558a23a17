#!/usr/bin/env node
// Thin launcher so `npx attnfit` works from the repo root after `npm install` + build.
import { main } from '../dist/cli/main.js';
main(process.argv).then((code) => {
  process.exitCode = code;
});
