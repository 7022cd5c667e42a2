// Waiting for things that happen over the network, with a deadline instead of a sleep.

/** Resolves with the detail of the next `type` event of `target`. */
export function nextEvent(target, type, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" event within ${timeout} ms`)), timeout);
    target.addEventListener(type, (event) => {
      clearTimeout(timer);
      resolve(event.detail);
    }, { once: true });
  });
}

/** Polls `condition` until it returns a truthy value, and resolves to that value. */
export async function until(condition, { timeout = 5000, interval = 10, what = 'the condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Records the handler calls of a Broadcaster: calls.get(funcKey) is a list of params lists. */
export function recordCalls(broadcaster, ...funcKeys) {
  const calls = new Map(funcKeys.map((key) => [key, []]));
  for (const key of funcKeys) broadcaster.on(key, (...params) => calls.get(key).push(params));
  return calls;
}
