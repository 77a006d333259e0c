#!/usr/bin/python3
"""The independent side of test/interop/ipsec-scapy-ipcomp.test.ts.

Runs in the network namespace on the kernel side of tap6's TAP. Scapy has
no IPComp layer, so the IPComp header (next header, flags, CPI) is built
and parsed here by hand and the payload compressed and decompressed with
python's zlib in raw DEFLATE mode (wbits=-15, RFC 2394): an implementation
that shares nothing with tap6's node:zlib use but the format.

For every case of the JSON configuration (argv[1]): build an ICMPv6 echo
request or a UDP datagram, compress it (or not) into an IPComp packet in
transport or tunnel mode, optionally protect that with scapy's ESP
(transport), send it as a raw Ethernet frame, answer tap6's neighbor
solicitations, wait for tap6's answer, undo ESP and IPComp, and compare it
byte for byte with the answer expected. The ECN cases send tunnel-mode ESP
whose outer header carries a chosen ECN field. Prints one JSON object per
case: name, ok, whether the answer came compressed, the outer hop limit and
traffic class of tunnel answers, and on failure what went wrong.
"""
import json
import socket
import sys
import time
import zlib

from scapy.layers.inet import UDP
from scapy.layers.inet6 import (ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
                                ICMPv6NDOptDstLLAddr, IPv6)
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.packet import Raw, raw

ETH_P_ALL = 3
PACKET_OUTGOING = 4
IPCOMP = 108
CPI_DEFLATE = 2

cfg = json.load(open(sys.argv[1]))
ifname = cfg['ifname']
tap_mac = cfg['tapMac']
my_mac = cfg['kernelMac']
ours = set(c['me'] for c in cfg['cases'])

sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sock.bind((ifname, 0))
sock.settimeout(0.05)


def send(pkt):
    sock.send(raw(Ether(src=my_mac, dst=tap_mac) / pkt))


def answer_ns(ip):
    ns = ip[ICMPv6ND_NS]
    if ns.tgt not in ours:
        return
    send(IPv6(src=ns.tgt, dst=ip.src, hlim=255) /
         ICMPv6ND_NA(tgt=ns.tgt, R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=my_mac))


def deflate(b):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


def inflate(b):
    d = zlib.decompressobj(-15)
    out = d.decompress(b, 65535)
    if d.unconsumed_tail or not d.eof:
        raise ValueError('DEFLATE stream longer than 65535 bytes or not finished')
    return out


def payload_bytes(c, n):
    if c['data'] == 'text':
        phrase = b'IPComp test: all work and no play makes Jack a dull boy. '
        return (phrase * (c['size'] // len(phrase) + 1))[:c['size']]
    # Incompressible: a fixed pseudo-random sequence.
    x = 0x12345 + n
    out = bytearray()
    for _ in range(c['size']):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        out.append((x >> 16) & 0xff)
    return bytes(out)


def inner_ends(c):
    if c['mode'] == 'tunnel':
        return c['innerMe'], c['innerTap']
    return c['me'], c['tap']


def request_and_reply(c, n, tc=0):
    me, tap = inner_ends(c)
    data = payload_bytes(c, n)
    if c['kind'] == 'icmp':
        req = IPv6(src=me, dst=tap, hlim=64, tc=tc) / ICMPv6EchoRequest(id=0x4343, seq=n, data=data)
        want = IPv6(src=tap, dst=me, hlim=64) / ICMPv6EchoReply(id=0x4343, seq=n, data=data)
    else:
        sport = 41000 + n
        req = IPv6(src=me, dst=tap, hlim=64, tc=tc) / UDP(sport=sport, dport=7) / Raw(data)
        want = IPv6(src=tap, dst=me, hlim=64) / UDP(sport=7, dport=sport) / Raw(data)
    return IPv6(raw(req)), IPv6(raw(want))


def esp_sa(c, spi, tunnel=False, tc=0):
    kw = {'spi': spi, 'crypt_algo': 'AES-GCM', 'crypt_key': bytes.fromhex(c['esp']['key'])}
    if tunnel:
        kw['tunnel_header'] = IPv6(src=c['me'], dst=c['tap'], hlim=64, tc=tc)
    return SecurityAssociation(ESP, **kw)


def ipcomp_packet(c, req):
    """The IPComp packet scapy's side sends: the outer header, IPComp (or not), the payload."""
    b = raw(req)
    if c['mode'] == 'tunnel':
        nh, body = 41, b
    else:
        nh, body = b[6], b[40:]
    if c['sendCompressed']:
        nh, body = IPCOMP, bytes([nh, 0, CPI_DEFLATE >> 8, CPI_DEFLATE & 0xff]) + deflate(body)
    return IPv6(src=c['me'], dst=c['tap'], hlim=64, nh=nh) / Raw(body)


def undo_ipcomp(ip_bytes):
    """tap6's packet with IPComp removed: (packet, compressed?, cpi)."""
    nh = ip_bytes[6]
    if nh != IPCOMP:
        return ip_bytes, False, None
    body = ip_bytes[40:]
    nh2, flags, cpi = body[0], body[1], (body[2] << 8) | body[3]
    data = inflate(body[4:])
    hdr = bytearray(ip_bytes[:40])
    hdr[6] = nh2
    hdr[4:6] = len(data).to_bytes(2, 'big')
    return bytes(hdr) + data, True, cpi


def from_tap(c, frame):
    if len(frame) < 14 + 40 or frame[6:12] != bytes.fromhex(tap_mac.replace(':', '')):
        return None
    e = Ether(frame)
    if IPv6 not in e:
        return None
    ip = e[IPv6]
    if ICMPv6ND_NS in ip:
        answer_ns(ip)
        return None
    if ip.src != c['tap'] or ip.dst != c['me']:
        return None
    return ip


def wait_reply(c, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            frame, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        ip = from_tap(c, frame)
        if ip is not None:
            return ip
    return None


def ipcomp_case(c, n):
    req, want = request_and_reply(c, n)
    pkt = ipcomp_packet(c, req)
    if c['esp']:
        pkt = esp_sa(c, c['esp']['spiIn']).encrypt(IPv6(raw(pkt)))
    send(pkt)
    ip = wait_reply(c, 3)
    if ip is None:
        return {'ok': False, 'why': 'no answer within 3 s'}
    r = {'outerHlim': ip.hlim, 'outerTc': ip.tc}
    if c['esp']:
        if ip.nh != 50:
            return dict(r, ok=False, why='answer not in ESP (next header %d)' % ip.nh)
        ip = esp_sa(c, c['esp']['spiOut']).decrypt(ip)
    try:
        b, compressed, cpi = undo_ipcomp(raw(ip))
    except Exception as ex:  # zlib raises on corrupt data
        return dict(r, ok=False, why='python zlib could not inflate: %r' % (ex,), wire=raw(ip).hex())
    r['compressed'] = compressed
    if compressed and cpi != CPI_DEFLATE:
        return dict(r, ok=False, why='CPI %d, expected the well-known 2' % cpi)
    if c['mode'] == 'tunnel':
        if b[6] != 41:
            return dict(r, ok=False, why='tunnel answer without IPv6 inside (next header %d)' % b[6])
        b = b[40:]
    if b != raw(want):
        return dict(r, ok=False, why='answer differs', got=b.hex(), want=raw(want).hex())
    return dict(r, ok=True)


def ecn_case(c, n):
    req, want = request_and_reply(c, n, tc=c['innerTc'])
    send(esp_sa(c, c['esp']['spiIn'], tunnel=True, tc=c['outerTc']).encrypt(req))
    ip = wait_reply(c, 3 if c['expectAnswer'] else 1.5)
    if ip is None:
        return {'ok': not c['expectAnswer'], 'answered': False}
    got = esp_sa(c, c['esp']['spiOut'], tunnel=True).decrypt(ip)
    if raw(got) != raw(want):
        return {'ok': False, 'answered': True, 'why': 'answer differs', 'got': raw(got).hex(), 'want': raw(want).hex()}
    return {'ok': c['expectAnswer'], 'answered': True, 'outerHlim': ip.hlim}


n = 0
for c in cfg['cases']:
    n += 1
    r = ecn_case(c, n) if c['test'] == 'ecn' else ipcomp_case(c, n)
    r['name'] = c['name']
    print(json.dumps(r), flush=True)
