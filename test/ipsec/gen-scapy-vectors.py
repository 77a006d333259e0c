#!/usr/bin/python3
"""Generates the scapy vectors of test/ipsec/scapy.test.ts.

Run with Debian's python3-scapy (2.5.0):  /usr/bin/python3 test/ipsec/gen-scapy-vectors.py
Prints one JSON object per line: name, the SA parameters, the plaintext
packet and the protected packet as scapy's SecurityAssociation.encrypt()
built it, with the sequence number and IV fixed through its API. The test
rebuilds each packet with tap6's ESP/AH and compares the bytes.
"""
import json
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, HBHOptUnknown, ICMPv6EchoRequest
from scapy.layers.inet import UDP
from scapy.layers.ipsec import SecurityAssociation, ESP, AH
from scapy.packet import Raw, raw

SRC, DST = '2001:db8::1', '2001:db8::2'


def udp(data):
    return IPv6(src=SRC, dst=DST, hlim=64) / UDP(sport=1234, dport=5678) / Raw(data)


def hexs(b):
    return bytes(b).hex()


def emit(name, proto, spi, mode, pkt, seq, iv=None, esn=0, enc=None, ekey=b'', auth=None, akey=b'', tunnel=None):
    kw = {}
    if enc:
        kw['crypt_algo'] = enc
        kw['crypt_key'] = ekey
    if auth:
        kw['auth_algo'] = auth
        kw['auth_key'] = akey
    if tunnel is not None:
        kw['tunnel_header'] = tunnel
    sa = SecurityAssociation(proto, spi=spi, esn_en=esn != 0, esn=esn, **kw)
    plain = raw(pkt)
    if proto is ESP:
        out = sa.encrypt(pkt, seq_num=seq, iv=iv)
    else:
        out = sa.encrypt(pkt, seq_num=seq)
    print(json.dumps({
        'name': name, 'proto': 'esp' if proto is ESP else 'ah', 'spi': spi, 'mode': mode,
        'enc': enc, 'encKey': hexs(ekey), 'auth': auth, 'authKey': hexs(akey),
        'seq': (esn << 32) + seq, 'esn': esn != 0, 'iv': hexs(iv or b''),
        'plain': hexs(plain), 'wire': hexs(raw(out)),
    }))


k16 = bytes(range(1, 17))
k32 = bytes(range(0x20, 0x40))
salt = bytes.fromhex('a1a2a3a4')
sha1key = bytes(range(0x40, 0x54))
sha256key = bytes(range(0x60, 0x80))

# AEAD: tap6 uses the 64-bit sequence number as the explicit IV, so the IV given to scapy is that number.
emit('esp aes-gcm-16/128 transport', ESP, 0x1001, 'transport', udp(b'tap6 esp gcm vector'), 1,
     iv=(1).to_bytes(8, 'big'), enc='AES-GCM', ekey=k16 + salt)
emit('esp aes-cbc/128 hmac-sha256-128 transport', ESP, 0x1002, 'transport', udp(b'tap6 esp cbc+hmac vector'), 1,
     iv=bytes.fromhex('000102030405060708090a0b0c0d0e0f'), enc='AES-CBC', ekey=k16, auth='SHA2-256-128', akey=sha256key)
emit('esp aes-cbc/256 hmac-sha1-96 transport', ESP, 0x1003, 'transport', udp(b'cbc 256 with sha1, thirty-one b'), 7,
     iv=bytes.fromhex('f0e0d0c0b0a090807060504030201000'), enc='AES-CBC', ekey=k32, auth='HMAC-SHA1-96', akey=sha1key)
emit('esp chacha20-poly1305 transport', ESP, 0x1004, 'transport', udp(b'chacha'), 3,
     iv=(3).to_bytes(8, 'big'), enc='CHACHA20-POLY1305', ekey=k32 + salt)
emit('esp null hmac-sha1-96 transport', ESP, 0x1005, 'transport', udp(b'null encryption, RFC 2410'), 2,
     enc='NULL', auth='HMAC-SHA1-96', akey=sha1key)
emit('esp aes-gcm-16/256 esn', ESP, 0x1006, 'transport', udp(b'esn high half 1'), 2,
     iv=((1 << 32) + 2).to_bytes(8, 'big'), esn=1, enc='AES-GCM', ekey=k32 + salt)
emit('esp aes-gcm-16/128 tunnel', ESP, 0x1007, 'tunnel',
     IPv6(src='2001:db8:1::10', dst='2001:db8:2::20', hlim=63) / ICMPv6EchoRequest(id=0x77, seq=5, data=b'through the tunnel'), 9,
     iv=(9).to_bytes(8, 'big'), enc='AES-GCM', ekey=k16 + salt, tunnel=IPv6(src=SRC, dst=DST, hlim=64))
# AH: mutable fields set to non-zero values (traffic class, flow label, hop limit, a mutable option's data).
ahpkt = (IPv6(src=SRC, dst=DST, hlim=17, tc=0xb8, fl=0x12345) /
         IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x3e, optdata=b'\x11\x22\x33\x44'),
                                     HBHOptUnknown(otype=0x1e, optdata=b'\x55\x66')]) /
         UDP(sport=1234, dport=5678) / Raw(b'authenticated, not encrypted'))
emit('ah hmac-sha256-128 transport with hop-by-hop', AH, 0x2001, 'transport', ahpkt, 4,
     auth='SHA2-256-128', akey=sha256key)
emit('ah hmac-sha1-96 esn', AH, 0x2002, 'transport', udp(b'ah with esn'), 7, esn=3,
     auth='HMAC-SHA1-96', akey=sha1key)
