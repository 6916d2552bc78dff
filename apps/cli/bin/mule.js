#!/usr/bin/env node
// The `mule` command (npx mule …): a committed shim so the bin link exists before the first build.
import '../dist/main.js';
