import type { TestProject } from 'vitest/node';
import { parityWorkload } from '../parity-workload.js';
import { Runtime } from '../../src/runtime/runtime.js';

// Runs once, in Node, before any project: computes the parity workload's hash here so the
// Chromium project can compare its own result with Node's bit for bit (test/parity.test.ts).
export default function setup(project: TestProject) {
  project.provide('nodeParityHash', parityWorkload(Runtime.createSync()));
}

declare module 'vitest' {
  export interface ProvidedContext {
    nodeParityHash: string;
  }
}
