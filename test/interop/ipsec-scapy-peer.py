#!/usr/bin/python3
"""The scapy side of test/interop/ipsec-scapy.test.ts.

Runs in the network namespace on the kernel side of tap6's TAP. For every
case of the JSON configuration (argv[1]) it protects an ICMPv6 echo request
or a UDP datagram with scapy's own SecurityAssociation, sends it to tap6 as
a raw Ethernet frame (AF_PACKET), answers tap6's neighbor solicitations for
its addresses, waits for tap6's protected answer, decrypts it with scapy and
compares it byte for byte with the answer it expects. Prints one JSON object
per exchange: name, ok, and on failure what went wrong (with the bytes).
"""
import json
import socket
import sys
import time

from scapy.layers.inet import UDP
from scapy.layers.inet6 import (ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
                                ICMPv6NDOptDstLLAddr, IPv6)
from scapy.layers.ipsec import AH, ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.packet import Raw, raw

ETH_P_ALL = 3
PACKET_OUTGOING = 4

cfg = json.load(open(sys.argv[1]))
ifname = cfg['ifname']
tap_mac = cfg['tapMac']
my_mac = cfg['kernelMac']
ours = set()
for c in cfg['cases']:
    ours.add(c['me'])

sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sock.bind((ifname, 0))
sock.settimeout(0.05)


def send(pkt):
    sock.send(raw(Ether(src=my_mac, dst=tap_mac) / pkt))


def answer_ns(ip):
    ns = ip[ICMPv6ND_NS]
    if ns.tgt not in ours:
        return
    na = (IPv6(src=ns.tgt, dst=ip.src, hlim=255) /
          ICMPv6ND_NA(tgt=ns.tgt, R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=my_mac))
    send(na)


def make_sa(c, spi, hi, low=1):
    # The sequence number goes to the constructor: encrypt(seq_num=0) would send scapy's own counter
    # instead (it tests `seq_num or self.seq_num`), and the ESN cases need a low half of 0.
    kw = {'spi': spi, 'seq_num': low}
    if c['esn']:
        kw['esn_en'] = True
        kw['esn'] = hi
    if c['mode'] == 'tunnel':
        # The outer header of what scapy sends; on decryption scapy returns the inner packet.
        kw['tunnel_header'] = IPv6(src=c['me'], dst=c['tap'], hlim=64)
    if c['proto'] == 'esp':
        kw['crypt_algo'] = c['enc']
        kw['crypt_key'] = bytes.fromhex(c['encKey'])
        if c['auth']:
            kw['auth_algo'] = c['auth']
            kw['auth_key'] = bytes.fromhex(c['authKey'])
        return SecurityAssociation(ESP, **kw)
    kw['auth_algo'] = c['auth']
    kw['auth_key'] = bytes.fromhex(c['authKey'])
    return SecurityAssociation(AH, **kw)


def ends(c):
    """Inner source and destination (the tunnel's payload, or the hosts themselves)."""
    if c['mode'] == 'tunnel':
        return c['innerMe'], c['innerTap']
    return c['me'], c['tap']


def request_and_reply(c, x, n):
    me, tap = ends(c)
    data = bytes((i * 7 + n) & 0xff for i in range(x['size']))
    if x['kind'] == 'icmp':
        req = IPv6(src=me, dst=tap, hlim=64) / ICMPv6EchoRequest(id=0x4242, seq=n, data=data)
        want = IPv6(src=tap, dst=me, hlim=64) / ICMPv6EchoReply(id=0x4242, seq=n, data=data)
    else:
        sport = 40000 + n
        req = IPv6(src=me, dst=tap, hlim=64) / UDP(sport=sport, dport=7) / Raw(data)
        want = IPv6(src=tap, dst=me, hlim=64) / UDP(sport=7, dport=sport) / Raw(data)
    return req, want


def protected_reply(c, frame):
    """tap6's protected packet for this case, or None."""
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
    proto = 50 if c['proto'] == 'esp' else 51
    if ip.nh != proto:
        return None
    return ip


def exchange(c, x, n):
    req, want = request_and_reply(c, x, n)
    out = make_sa(c, c['spiIn'], x['hi'], x['low'])
    send(out.encrypt(req))
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            frame, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        ip = protected_reply(c, frame)
        if ip is None:
            continue
        payload = raw(ip.payload)
        spi = int.from_bytes(payload[4:8] if c['proto'] == 'ah' else payload[0:4], 'big')
        if spi != c['spiOut']:
            return {'ok': False, 'why': 'reply with SPI 0x%x, expected 0x%x' % (spi, c['spiOut'])}
        low = int.from_bytes(payload[8:12] if c['proto'] == 'ah' else payload[4:8], 'big')
        # ESN: the high half scapy must assume (the replies cross 2^32 in step with the requests).
        hi = (0 if low >= 0x80000000 else 1) if c['esn'] else 0
        try:
            got = make_sa(c, c['spiOut'], hi).decrypt(ip)
        except Exception as ex:  # scapy raises on a bad ICV or padding
            return {'ok': False, 'why': 'scapy could not decrypt/verify: %r' % (ex,), 'wire': raw(ip).hex()}
        if raw(got) != raw(want):
            return {'ok': False, 'why': 'answer differs', 'got': raw(got).hex(), 'want': raw(want).hex()}
        return {'ok': True, 'seq': (hi << 32) + low}
    return {'ok': False, 'why': 'no protected answer within 3 s'}


n = 0
for c in cfg['cases']:
    for x in c['exchanges']:
        n += 1
        r = exchange(c, x, n)
        r['name'] = '%s #%d %s' % (c['name'], c['exchanges'].index(x) + 1, x['kind'])
        print(json.dumps(r), flush=True)
