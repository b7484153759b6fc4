/** Runs at most `limit` tasks at once; the rest wait in FIFO order. */
export function createSemaphore(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    // A released slot is handed straight to the next waiter (active stays as it is), so a caller arriving before that
    // waiter resumes can't take the slot too and push the count over the limit.
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
