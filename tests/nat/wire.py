#!/usr/bin/env python3
# tests/nat/wire.py: a lossy, slow, reordering wire for the NAT lab (tests/nat/nat-faults.sh).
#
#   python3 wire.py --a IF --b IF --between IP,IP [--loss P] [--delay MS] [--reorder P]
#                   [--reorder-delay MS] [--seed N]
#
# A userspace bridge between two interfaces of one namespace (AF_PACKET, every frame): what
# arrives on one leaves on the other. IPv4 frames between the two --between addresses (either
# way) are impaired like netem's "delay D loss P reorder R": each is dropped with probability
# --loss, else held --delay ms, except a --reorder share held only --reorder-delay ms, which
# overtakes the frames held before it. Every other frame (ARP, the DHT's traffic) passes at once.
# This kernel (and CI's, the same kind of machine) has no sch_netem, hence userspace.
# The UDP checksum of every IPv4 frame is zeroed ("none", RFC 768): frames read from a veth may
# carry a partial (offloaded) checksum that would be wrong once written back out.
# Prints {"ready":true} once both interfaces are open, and on SIGTERM/SIGINT one line of counters
# per direction (a->b "up", b->a "down"): {"wire":{"up":{passed,impaired,dropped,reordered},..}}.
import argparse
import heapq
import json
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 3
PACKET_OUTGOING = 4

p = argparse.ArgumentParser()
p.add_argument('--a', required=True)
p.add_argument('--b', required=True)
p.add_argument('--between', required=True)
p.add_argument('--loss', type=float, default=0.0)
p.add_argument('--delay', type=float, default=0.0)
p.add_argument('--reorder', type=float, default=0.0)
p.add_argument('--reorder-delay', type=float, default=0.0)
p.add_argument('--seed', type=int, default=None)
o = p.parse_args()
rng = random.Random(o.seed)
pair = {socket.inet_aton(x) for x in o.between.split(',')}
if len(pair) != 2:
    sys.exit('--between needs two addresses')


def open_if(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((name, 0))
    s.setblocking(False)
    return s


a = open_if(o.a)
b = open_if(o.b)
names = {a: 'up', b: 'down'}
other = {a: b, b: a}
stats = {d: {'passed': 0, 'impaired': 0, 'dropped': 0, 'reordered': 0, 'send_errors': 0}
         for d in ('up', 'down')}
held = []  # (due, n, frame, out socket, direction)
n = 0
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


def send(out, frame, d):
    try:
        out.send(frame)
    except OSError:
        stats[d]['send_errors'] += 1


def handle(frame, src):
    global n
    d = names[src]
    out = other[src]
    st = stats[d]
    impaired = False
    if len(frame) >= 34 and frame[12:14] == b'\x08\x00':
        ihl = (frame[14] & 0x0f) * 4
        if frame[23] == 17 and len(frame) >= 14 + ihl + 8:
            frame = bytearray(frame)
            frame[14 + ihl + 6:14 + ihl + 8] = b'\0\0'
            frame = bytes(frame)
        if frame[26:30] != frame[30:34] and {frame[26:30], frame[30:34]} == pair:
            impaired = True
    if not impaired:
        st['passed'] += 1
        send(out, frame, d)
        return
    st['impaired'] += 1
    if rng.random() < o.loss:
        st['dropped'] += 1
        return
    hold = o.delay
    if rng.random() < o.reorder:
        st['reordered'] += 1
        hold = o.reorder_delay
    n += 1
    heapq.heappush(held, (time.monotonic() + hold / 1000.0, n, frame, out, d))


print(json.dumps({'ready': True}), flush=True)
while running:
    now = time.monotonic()
    while held and held[0][0] <= now:
        _, _, frame, out, d = heapq.heappop(held)
        stats[d]['passed'] += 1
        send(out, frame, d)
    timeout = max(0.0, held[0][0] - now) if held else 0.5
    try:
        ready, _, _ = select.select([a, b], [], [], timeout)
    except InterruptedError:
        continue
    for s in ready:
        for _ in range(256):
            try:
                frame, addr = s.recvfrom(65535)
            except BlockingIOError:
                break
            if addr[2] == PACKET_OUTGOING:
                continue
            handle(frame, s)
print(json.dumps({'wire': stats}), flush=True)
