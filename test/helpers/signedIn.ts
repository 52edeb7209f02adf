import type { TestKernel } from './kernel.ts';
import { signUp } from '../kit/index.ts';

/** Registers and signs in a fresh user on a kernel with identity; returns its Authorization header (see test/kit). */
export async function userAuthorization(
  url: string,
  tag = 'user',
  basePath = '/v1',
): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${(await signUp(url, basePath, tag)).accessToken}` };
}

/** The same kernel, with every request sent as one fresh signed-in user (for owned resources such as notes). */
export async function signedIn<K extends TestKernel>(k: K, tag?: string, basePath?: string): Promise<K> {
  const auth = await userAuthorization(k.url, tag, basePath);
  return {
    ...k,
    request: (method, path, options = {}) =>
      k.request(method, path, { ...options, headers: { ...auth, ...options.headers } }),
  };
}
