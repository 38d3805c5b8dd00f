"""Unique test messages for the end-to-end comparison, one file per message (CRLF line ends).

KIND "plain": about 10 KB of text/plain; "zip": about 100 KB, multipart/mixed with a text part
and a base64 zip holding two text documents, one deflated and one stored (text, not random
bytes, so that no member can look like an executable or another archive by chance). SEED makes
every round's corpus different from the others (so that no peer answers from a cache keyed by
the body), while both peers of one round get the same bytes. No message carries a virus.
Usage: corpus.py KIND N SEED OUTDIR
"""
import base64
import io
import os
import random
import sys
import zipfile

kind, n, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.makedirs(out, exist_ok=True)
rnd = random.Random(seed)
words = ("the of and to in is you that it he was for on are as with his they at be this have "
         "from or one had by word but not what all were we when your can said there use an each "
         "which she do how their if will up other about out many then them these so some her "
         "would make like him into time has look two more write go see number no way could "
         "people my than first water been call who oil its now find long down day did get come "
         "made may part quarterly figures report meeting budget").split()


def text(nbytes):
    lines, size = [], 0
    while size < nbytes:
        line = " ".join(rnd.choice(words) for _ in range(11))
        lines.append(line)
        size += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\r\n"


for i in range(n):
    tag = "%d.%d.%d" % (seed, i, rnd.randrange(10**9))
    head = ("From: sender%d@example.org\r\nTo: user%d@example.com\r\nSubject: report %s\r\n"
            "Message-ID: <%s@example.org>\r\nDate: Tue, 1 Dec 2026 12:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n" % (i, i % 37, tag, tag))
    if kind == "plain":
        msg = head + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text(10240 - len(head) - 46)
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("report-%s.txt" % tag, text(60000), compress_type=zipfile.ZIP_DEFLATED)
            z.writestr("appendix.txt", text(52000), compress_type=zipfile.ZIP_STORED)
        msg = (head + 'Content-Type: multipart/mixed; boundary="=b%s"\r\n\r\n' % tag
               + "--=b%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" % tag + text(3000)
               + "--=b%s\r\nContent-Type: application/zip; name=\"report.zip\"\r\n"
                 "Content-Disposition: attachment; filename=\"report.zip\"\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n" % tag
               + b64(buf.getvalue()) + "--=b%s--\r\n" % tag)
    with open(os.path.join(out, "%05d" % i), "w", newline="") as f:
        f.write(msg)
