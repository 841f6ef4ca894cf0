// Fault-injection suites (`npm run test:faults`): kill workers, restart Redis and PostgreSQL,
// make the provider fail, replay receipts, jump the clock. Not part of `npm test`.
// Sizes: FAULT_COUNT (notices per suite, default 300).
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^#libs/(.*)$': '<rootDir>/libs/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  displayName: 'faults',
  workerIdleMemoryLimit: '700MB',
  testMatch: ['<rootDir>/test/faults/**/*.fault-spec.ts'],
};
