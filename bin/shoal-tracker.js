#!/usr/bin/env node
import '../dist/tracker/cli.js';
