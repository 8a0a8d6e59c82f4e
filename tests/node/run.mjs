// Runs the named steps of a node test script in order, printing "ok - <name>" or
// "not ok - <name>" and the error for each. Shared by tests/browser and tests/interop.
export async function runSteps(steps, { stopAtFirstFailure = false } = {}) {
  const passed = [];
  let failed = 0;
  for (const { name, fn } of steps) {
    const started = Date.now();
    try {
      await fn();
      passed.push(name);
      console.log(`ok - ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed += 1;
      console.log(`not ok - ${name}\n${String(error && error.stack ? error.stack : error).replace(/^/gm, "   ")}`);
      if (stopAtFirstFailure) break;
    }
  }
  return { passed, failed };
}
