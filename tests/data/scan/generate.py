#!/usr/bin/python3
"""Writes the scanmail test vectors (NAME.eml + NAME.expect) into this directory.

Run once after editing; the output is committed. Each .expect holds the verdict scanmail must
reach: `clean`, `virus`, `banned <pattern from etc/matches.bad>`, `too-complex`, `unscannable`.
"""
import base64, io, os, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
HEAD = "From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: {subj}\nDate: Fri, 27 Nov 2026 14:45:49 +0000\nMessage-ID: <{name}@example.org>\nMIME-Version: 1.0\n"

def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"

def zipped(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files:
            z.writestr(n, d)
    return buf.getvalue()

def mixed(name, subj, parts, boundary="=_b1", extra_ct="", final=True):
    m = HEAD.format(subj=subj, name=name)
    m += f'Content-Type: multipart/mixed; boundary="{boundary}"{extra_ct}\n\nThis is a MIME message.\n\n'
    m += f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\nHello Bob, see the attachment.\n\n"
    for p in parts:
        m += f"--{boundary}\n{p}\n"
    if final:
        m += f"--{boundary}--\n"
    return m

def att(headers, data):
    return headers + "Content-Transfer-Encoding: base64\n\n" + b64(data)

V = {}
EXE = 'banned filename=.*\\.exe"\\?$'
def bad(ext):
    return 'banned filename=.*\\.%s"\\?$' % ext

V["clean-plain"] = (HEAD.format(subj="lunch", name="p") + "\nLet's have lunch at noon.\n", "clean")
V["clean-html-alternative"] = (HEAD.format(subj="news", name="h") +
    'Content-Type: multipart/alternative; boundary="alt"\n\n--alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 news\n--alt\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<p>Caf=C3=A9 news</p>\n--alt--\n', "clean")
V["clean-mentions-banned-name-in-text"] = (HEAD.format(subj="how to", name="m") +
    "\nTo install, save the file as filename=setup.exe and run it.\nA header would read: Content-Disposition: attachment; filename=\"setup.exe\"\n", "clean")
V["clean-zip-of-text"] = (mixed("z", "report", [att('Content-Type: application/zip; name="report.zip"\nContent-Disposition: attachment; filename="report.zip"\n', zipped([("report.txt", b"numbers\n" * 50)]))]), "clean")
V["clean-pdf-attachment"] = (mixed("pdf", "invoice", [att('Content-Type: application/pdf; name="invoice.pdf"\nContent-Disposition: attachment; filename="invoice.pdf"\n', b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")]), "clean")

V["banned-plain-exe"] = (mixed("e", "tool", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="setup.exe"\n', b"not really a program")]), EXE)
V["banned-rfc2231"] = (mixed("r", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''setup%2Eexe\n", b"data")]), EXE)
V["banned-rfc2231-continuation"] = (mixed("rc", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment;\n filename*0*=utf-8''se%74;\n filename*1*=up%2E;\n filename*2=ex;\n filename*3=e\n", b"data")]), EXE)
V["banned-rfc2231-charset"] = (mixed("rcs", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=iso-8859-1'de'R%E9sum%E9.scr\n", b"data")]), bad("scr"))
V["banned-rfc2047"] = (mixed("w", "tool", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="=?utf-8?B?c2V0dXAuZXhl?="\n', b"data")]), EXE)
V["banned-rfc2047-q"] = (mixed("wq", "tool", [att('Content-Type: application/octet-stream; name="=?iso-8859-1?Q?rechnung=2Epif?="\n', b"data")]), bad("pif"))
V["banned-folded"] = (mixed("f", "tool", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment;\n\tfilename=\n "setup.bat"\n', b"data")]), bad("bat"))
V["banned-case"] = (mixed("c", "tool", [att('Content-Type: application/octet-stream\nCONTENT-DISPOSITION: ATTACHMENT; FILENAME="SETUP.EXE"\n', b"data")]), EXE)
V["banned-trailing-dots"] = (mixed("t", "tool", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="setup.exe. . ."\n', b"data")]), EXE)
V["banned-nul-in-name"] = (mixed("nul", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''setup.exe%00.txt\n", b"data")]), EXE)
V["banned-content-type-name-only"] = (mixed("ct", "tool", [att('Content-Type: application/octet-stream; name="screensaver.scr"\n', b"data")]), bad("scr"))
V["banned-uuencode"] = (HEAD.format(subj="uu", name="uu") + "\nHere it is:\n\nbegin 644 love-letter.vbs\n,:&5L;&\\@=V]R;&0*\n`\nend\n", bad("vbs"))
V["banned-nested-message"] = (mixed("n", "fwd", ["Content-Type: message/rfc822\n\n" + mixed("inner", "inner", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="run.bat"\n', b"@echo off\n")], boundary="=_inner")]), bad("bat"))
V["banned-zip-member"] = (mixed("zm", "invoice", [att('Content-Type: application/zip; name="invoice.zip"\n', zipped([("invoice.pdf.exe", b"x")]))]), EXE)
V["banned-nested-zip-member"] = (mixed("nzm", "invoice", [att('Content-Type: application/zip; name="outer.zip"\n', zipped([("inner.zip", zipped([("dir/payload.js", b"x")]))]))]), bad("js"))
V["banned-renamed-exe"] = (mixed("re", "photo", [att('Content-Type: image/jpeg; name="photo.jpg"\nContent-Disposition: attachment; filename="photo.jpg"\n', b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00PE\x00\x00")]), EXE)
V["banned-renamed-exe-in-zip"] = (mixed("rez", "photos", [att('Content-Type: application/zip; name="photos.zip"\n', zipped([("holiday.jpg", b"MZ\x90\x00 program")]))]), EXE)
V["banned-elf"] = (mixed("elf", "data", [att('Content-Type: application/octet-stream; name="data.bin"\n', b"\x7fELF\x02\x01\x01\x00")]), bad("elf"))
V["banned-shebang"] = (mixed("sh", "notes", [att('Content-Type: text/plain; name="notes.txt"\nContent-Disposition: attachment; filename="notes.txt"\n', b"#!/bin/sh\nrm -rf ~\n")]), bad("sh"))

V["virus-eicar-attachment"] = (mixed("va", "test", [att('Content-Type: application/octet-stream; name="eicar.txt"\nContent-Disposition: attachment; filename="eicar.txt"\n', EICAR)]), "virus")
V["virus-eicar-in-zip"] = (mixed("vz", "test", [att('Content-Type: application/zip; name="eicar.zip"\n', zipped([("eicar.txt", EICAR)]))]), "virus")
V["virus-eicar-nested"] = (mixed("vn", "fwd", ["Content-Type: message/rfc822\n\n" + mixed("vin", "inner", [att('Content-Type: application/octet-stream; name="readme.txt"\n', EICAR)], boundary="=_inner")]), "virus")
V["virus-eicar-inline"] = (HEAD.format(subj="inline", name="vi") + "\n" + EICAR.decode() + "\n", "virus")
V["virus-eicar-odd-encoding"] = (mixed("vo", "test", ['Content-Type: application/octet-stream; name="readme.dat"\nContent-Transfer-Encoding: "Base-64" (sic)\n\n' + b64(EICAR)]), "virus")
V["virus-eicar-missing-final-boundary"] = (mixed("vm", "test", [att('Content-Type: application/octet-stream; name="readme.dat"\n', EICAR)], final=False), "virus")

V["unscannable-conflicting-boundaries"] = (mixed("cb", "two", [att('Content-Type: application/octet-stream; name="a.dat"\n', b"x")], extra_ct="; boundary=\"=_b2\""), "unscannable")
deep = HEAD.format(subj="deep", name="deep")
for i in range(25):
    deep += f'Content-Type: multipart/mixed; boundary="lvl{i}x"\n\n--lvl{i}x\n'
deep += "Content-Type: text/plain\n\nbottom\n"
V["too-complex-deep-nesting"] = (deep, "too-complex")
V["too-complex-zip-members"] = (mixed("zb", "many", [att('Content-Type: application/zip; name="many.zip"\n', zipped([(f"{i}", b"") for i in range(1001)]))]), "too-complex")

for name, (text, expect) in V.items():
    with open(os.path.join(HERE, name + ".eml"), "w", newline="\n") as f:
        f.write(text)
    with open(os.path.join(HERE, name + ".expect"), "w") as f:
        f.write(expect + "\n")
print(len(V), "vectors")
