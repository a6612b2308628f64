import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites each start their own sshd; two cores do not gain from more forks.
    maxWorkers: 2,
    // Memory tests collect garbage before measuring, so they see live memory, not GC timing.
    execArgv: ['--expose-gc'],
    reporters: ['default'],
    server: {
      deps: {
        // @actions/github reads the run's context from the environment as it loads: inlined, it
        // is loaded afresh after vi.resetModules(), so a test can give it another environment.
        inline: ['@actions/github']
      }
    }
  }
})
