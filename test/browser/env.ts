/** Where the test origin listens, served by the web-test-runner config. */
export async function testEnv(): Promise<{ originUrl: string }> {
  const response = await fetch('/__env.json');
  return response.json();
}

/** Resolves with the first event of `name` on `target` for which `accept` holds. */
export function nextEvent<T>(subscribe: (handler: (value: T) => void) => () => void, accept: (value: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const unsubscribe = subscribe((value) => {
      if (!accept(value)) return;
      unsubscribe();
      resolve(value);
    });
  });
}
