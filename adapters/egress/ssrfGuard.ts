import ipaddr from 'ipaddr.js';

/**
 * Which addresses an outbound call may reach. Parsing and range tables are ipaddr.js's; this
 * file only decides. Only globally routable unicast passes: everything ipaddr.js names
 * (loopback, private, linkLocal, carrierGradeNat, multicast, unspecified, broadcast, reserved —
 * which holds the documentation and benchmarking ranges —, uniqueLocal, teredo, orchid...) is
 * refused. IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, SIIT
 * `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) are judged by the
 * embedded address; the deprecated IPv4-compatible `::a.b.c.d` and local-use NAT64
 * `64:ff9b:1::/48` are refused outright. Cloud metadata endpoints are refused even when an
 * allowlist covers them or the guard is off.
 *
 * Host spellings (decimal `2130706433`, hex `0x7f000001`, octal `0177.0.0.1`, short `127.1`,
 * `[0:0:0:0:0:0:0:1]`) are normalised by the WHATWG URL parser before they get here, the same
 * parser undici uses, so what is checked is what is dialled.
 */
export type Verdict = { allowed: true; address: string } | { allowed: false; address: string; range: string };

const METADATA = [ipaddr.parse('169.254.169.254'), ipaddr.parse('fd00:ec2::254'), ipaddr.parse('169.254.170.2')];
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses `allowCidrs` entries; a bare address is a /32 or /128. Throws a TypeError naming a bad entry. */
export function parseCidrs(entries: string[]): Cidr[] {
  return entries.map((entry) => {
    try {
      if (entry.includes('/')) return ipaddr.parseCIDR(entry);
      const address = ipaddr.parse(entry);
      return [address, address.kind() === 'ipv4' ? 32 : 128] as Cidr;
    } catch {
      throw new TypeError(`egress allowCidrs: "${entry}" is not an IP address or CIDR`);
    }
  });
}

/** Strips the brackets of a URL's IPv6 hostname; undefined when `host` is a name, not an address. */
export function ipLiteral(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  // isValidFourPartDecimal: a name like "1.2.3" must not be read as an address here (URL already normalised real ones).
  if (ipaddr.IPv6.isValid(bare) || ipaddr.IPv4.isValidFourPartDecimal(bare)) return bare;
  return undefined;
}

/** The IPv4 address an IPv6 one stands for, if any. */
function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const range = v6.range();
  const p = v6.parts;
  const low32 = () => new ipaddr.IPv4([p[6] >> 8, p[6] & 0xff, p[7] >> 8, p[7] & 0xff]);
  if (range === 'ipv4Mapped' || range === 'rfc6145') return low32();
  if (range === 'rfc6052' && v6.match(NAT64_WELL_KNOWN)) return low32();
  if (range === '6to4') return new ipaddr.IPv4([p[1] >> 8, p[1] & 0xff, p[2] >> 8, p[2] & 0xff]);
  return undefined;
}

/** The range name that makes an address unreachable, or undefined when it is public unicast. */
export function blockedRange(address: ipaddr.IPv4 | ipaddr.IPv6): string | undefined {
  if (METADATA.some((m) => m.kind() === address.kind() && m.toString() === address.toString())) return 'cloud-metadata';
  if (address.kind() === 'ipv4') {
    const range = address.range();
    return range === 'unicast' ? undefined : range;
  }
  const v6 = address as ipaddr.IPv6;
  if (v6.match(IPV4_COMPATIBLE)) return v6.range() === 'unicast' ? 'ipv4Compatible' : v6.range();
  const v4 = embeddedIPv4(v6);
  if (v4) {
    const inner = blockedRange(v4);
    return inner ? `${v6.range()}(${inner})` : undefined;
  }
  const range = v6.range();
  return range === 'unicast' ? undefined : range;
}

export class SsrfGuard {
  constructor(private readonly allow: Cidr[], readonly enabled = true) {}

  /** Judges one address (as DNS or a URL gives it). Unparseable input is refused. */
  check(address: string): Verdict {
    let parsed: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      parsed = ipaddr.parse(address);
    } catch {
      return { allowed: false, address, range: 'unparseable' };
    }
    const range = blockedRange(parsed);
    if (range?.includes('cloud-metadata')) return { allowed: false, address, range };
    if (!this.enabled || !range) return { allowed: true, address };
    // Judge ::ffff:a.b.c.d against IPv4 allowlist entries too.
    const v6 = parsed.kind() === 'ipv6' ? (parsed as ipaddr.IPv6) : undefined;
    const plain = v6?.isIPv4MappedAddress() ? v6.toIPv4Address() : parsed;
    if (this.allow.some(([net, bits]) => net.kind() === plain.kind() && plain.match(net, bits))) {
      return { allowed: true, address };
    }
    return { allowed: false, address, range };
  }
}
