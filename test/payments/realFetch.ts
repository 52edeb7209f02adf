/**
 * The runtime's own fetch, taken before nock is imported: nock's fetch interceptor cannot send
 * the kit's request bodies on Node 20 ("Request.clone: unusable"), and the kit only calls the
 * kernel on loopback. The kernel's egress reaches nock through undici's dispatcher instead.
 */
export const realFetch = globalThis.fetch;
