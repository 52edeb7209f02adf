import * as assert from 'uvu/assert';
import { request, type TestKernel } from './kernel.ts';

let seq = 0;

/** Registers and signs in a fresh user on a kernel with identity; returns its Authorization header. */
export async function userAuthorization(
  url: string,
  tag = 'user',
  basePath = '/v1',
): Promise<{ authorization: string }> {
  const email = `${tag}-${process.pid}-${Date.now().toString(36)}-${seq++}@example.com`;
  const password = 'Passw0rd!x';
  const reg = await request(url, 'POST', `${basePath}/auth/register`, { body: { name: tag, email, password } });
  assert.is(reg.status, 201, reg.text);
  const login = await request(url, 'POST', `${basePath}/auth/login`, { body: { email, password } });
  assert.is(login.status, 200, login.text);
  const body = login.body.success === true ? login.body.data : login.body; // the `success` envelope wraps it
  return { authorization: `Bearer ${body.accessToken}` };
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
