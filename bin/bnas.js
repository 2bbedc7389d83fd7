#!/usr/bin/env node
import '../dist/cli/bnas.js';
