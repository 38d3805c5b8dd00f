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
            # A fixed date: the vectors are the same bytes whenever they are re-made.
            z.writestr(zipfile.ZipInfo(n, date_time=(2026, 11, 27, 14, 45, 48)), d, compress_type=zipfile.ZIP_DEFLATED)
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

# --- Names as a client would save them (issue 9) ---
V["banned-ctl-rfc2231-lf"] = (mixed("ctl1", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''x%0Aevil.exe\n", b"data")]), EXE)
V["banned-ctl-rfc2047-lf"] = (mixed("ctl2", "tool", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="=?utf-8?Q?x=0Aevil.exe?="\n', b"data")]), EXE)
V["banned-ctl-trailing-lf"] = (mixed("ctl3", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''evil.exe%0A\n", b"data")]), EXE)
V["banned-ctl-tab-inside"] = (mixed("ctl4", "tool", [att("Content-Type: application/octet-stream; name*=utf-8''evil.e%09xe\n", b"data")]), EXE)
V["banned-malformed-name"] = (mixed("ctl5", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''%0A%0D%09\n", b"data")]), "banned malformed name")
V["banned-duplicate-filename"] = (mixed("dup", "tool", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="report.pdf"; filename="setup.exe"\n', b"data")]), EXE)
V["banned-second-content-type-header"] = (mixed("ct2n", "tool", [att('Content-Type: application/octet-stream; name="report.pdf"\nContent-Type: application/octet-stream; name="setup.exe"\n', b"data")]), EXE)
V["banned-second-disposition-header"] = (mixed("cd2n", "tool", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="report.pdf"\nContent-Disposition: attachment; filename="setup.exe"\n', b"data")]), EXE)
V["banned-name-and-filename-differ"] = (mixed("nf", "tool", [att('Content-Type: application/octet-stream; name="setup.exe"\nContent-Disposition: attachment; filename="report.pdf"\n', b"data")]), EXE)
V["banned-rfc2231-mixed-plain-first"] = (mixed("mx", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*0=\"se\"; filename*1*=%74up; filename*2*=utf-8''.e; filename*3=xe\n", b"data")]), EXE)
V["banned-rfc2231-latin1-exe"] = (mixed("l1", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=windows-1252''%C4rger.exe\n", b"data")]), EXE)
V["banned-rfc2047-split-words"] = (mixed("sw", "tool", [att('Content-Type: application/octet-stream; name="=?utf-8?Q?se?= =?iso-8859-1?B?dHVwLmV4ZQ==?="\n', b"data")]), EXE)
V["banned-rfc2047-unquoted"] = (mixed("uq", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename==?utf-8?B?c2V0dXAu?= =?utf-8?B?ZXhl?=\n", b"data")]), EXE)
V["banned-rfc2047-in-rfc2231"] = (mixed("in", "tool", [att("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=us-ascii''%3D%3Futf-8%3FB%3Fc2V0dXAuZXhl%3F%3D\n", b"data")]), EXE)
V["banned-space-before-colon"] = (HEAD.format(subj="tool", name="sbc") +
    'Content-Type : multipart/mixed; boundary="sb"\n\n--sb\nContent-Type: text/plain\n\nhi\n--sb\nContent-Type : application/octet-stream\nContent-Disposition\t: attachment; filename="setup.exe"\nContent-Transfer-Encoding: base64\n\n' + b64(b"data") + "--sb--\n", EXE)
UU_HELLO = ",:&5L;&\\@=V]R;&0*\n`\nend\n"
V["banned-uuencode-mode-100644"] = (HEAD.format(subj="uu", name="uu1") + "\nHere:\n\nbegin 100644 evil.exe\n" + UU_HELLO, EXE)
V["banned-uuencode-in-base64-text"] = (mixed("uu2", "uu", ["Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n\n" + b64(("Here it is:\r\n\r\nbegin 0755 love.vbs\r\n" + UU_HELLO.replace("\n", "\r\n")).encode())]), bad("vbs"))
V["banned-uuencode-in-qp-nested"] = (mixed("uu3", "fwd", ["Content-Type: message/rfc822\n\n" + mixed("uu3i", "inner", ["Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nsee=20below\n\nbegin 0644 run.bat\n" + UU_HELLO.replace("=", "=3D")], boundary="=_inner")]), bad("bat"))
V["banned-base64-url-safe-chars"] = (mixed("b64u", "photo", ['Content-Type: image/jpeg; name="photo.jpg"\nContent-Transfer-Encoding: base64\n\n-_' + b64(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00")]), EXE)
INNER_EML = mixed("eml", "inner", [att('Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="run.bat"\n', b"@echo off\n")], boundary="=_inner")
V["banned-eml-as-octet-stream"] = (mixed("eml", "fwd", [att('Content-Type: application/octet-stream; name="forward.dat"\n', INNER_EML.encode())]), bad("bat"))
V["banned-rfc822-with-name"] = (mixed("eml2", "fwd", ['Content-Type: message/rfc822; name="forward.txt"\nContent-Disposition: attachment; filename="forward.txt"\n\n' + INNER_EML]), bad("bat"))

# --- Fail closed at once ---
V["unscannable-message-partial"] = (HEAD.format(subj="part 1", name="mp") + 'Content-Type: message/partial; id="abc@example.org"; number=1; total=2\n\nFrom: x\nSubject: y\nContent-Type: application/octet-stream\n\nAAAA\n', "unscannable message/partial")
V["unscannable-external-body"] = (mixed("eb", "see", ['Content-Type: message/external-body; access-type=URL; URL="http://example.org/x.bin"\n\nContent-Type: application/octet-stream\n\n']), "unscannable message/external-body")

# --- Ambiguous MIME: every interpretation is judged, nothing waits ---
V["clean-conflicting-boundaries"] = (mixed("cb", "two", [att('Content-Type: application/octet-stream; name="a.dat"\n', b"x")], extra_ct="; boundary=\"=_b2\""), "clean")
V["banned-conflicting-boundaries"] = (HEAD.format(subj="two", name="cb2") + 'Content-Type: multipart/mixed; boundary="one"; boundary="two"\n\n--one\nContent-Type: text/plain\n\nhello\n--two\nContent-Type: application/octet-stream; name="setup.exe"\n\nxx\n--two--\n--one--\n', EXE)
V["virus-conflicting-boundaries"] = (HEAD.format(subj="two", name="cb3") + 'Content-Type: multipart/mixed; boundary="one"\nContent-Type: multipart/mixed; boundary="two"\n\n--one\nContent-Type: text/plain\n\nhello\n--two\nContent-Type: application/octet-stream; name="a.dat"\nContent-Transfer-Encoding: base64\n\n' + b64(EICAR) + '--two--\n--one--\n', "virus")
V["banned-two-content-types"] = (HEAD.format(subj="two", name="ct2") + 'Content-Type: text/plain\nContent-Type: multipart/mixed; boundary="m"\n\n--m\nContent-Type: text/plain\n\nhello\n--m\nContent-Type: application/octet-stream; name="setup.exe"\n\nxx\n--m--\n', EXE)
V["banned-boundary-prefix-line"] = (HEAD.format(subj="prefix", name="bp") + 'Content-Type: multipart/mixed; boundary="a"\n\n--a\nContent-Type: text/plain\n\nhello\n--ab\nContent-Type: application/octet-stream; name="setup.exe"\n\nxx\n--a--\n', EXE)
V["banned-multipart-with-base64"] = (HEAD.format(subj="enc", name="me") + 'Content-Type: multipart/mixed; boundary="e"\nContent-Transfer-Encoding: base64\n\n' + b64(b'--e\nContent-Type: text/plain\n\nhello\n--e\nContent-Type: application/octet-stream; name="setup.exe"\n\nxx\n--e--\n'), EXE)
V["banned-no-boundary-line"] = (HEAD.format(subj="nob", name="nb") + 'Content-Type: multipart/mixed; boundary="never"\n\nbegin 644 setup.exe\n' + UU_HELLO, EXE)
V["banned-after-close-delimiter"] = (HEAD.format(subj="late", name="ac") + 'Content-Type: multipart/mixed; boundary="r"\n\n--r\nContent-Type: text/plain\n\nhello\n--r--\n\n--r\nContent-Type: application/octet-stream; name="setup.exe"\n\nxx\n--r--\n', EXE)
# Outlook Express for Mac: the same boundary for the outer multipart/mixed and the inner
# multipart/alternative. Ordinary mail: clean, at once.
def oe_mac(name, attachment):
    m = HEAD.format(subj="minutes", name=name)
    m += 'Content-Type: multipart/mixed; boundary="B_3350000000_1234567"\n\n> This message is in MIME format.\n\n'
    m += '--B_3350000000_1234567\nContent-Type: multipart/alternative; boundary="B_3350000000_1234567"\n\n\n'
    m += '--B_3350000000_1234567\nContent-Type: text/plain; charset="US-ASCII"\nContent-Transfer-Encoding: 7bit\n\nThe minutes are attached.\n\n'
    m += '--B_3350000000_1234567\nContent-Type: text/html; charset="US-ASCII"\nContent-Transfer-Encoding: 7bit\n\n<HTML><BODY>The minutes are attached.</BODY></HTML>\n\n'
    m += '--B_3350000000_1234567--\n\n\n--B_3350000000_1234567\n' + attachment + '\n--B_3350000000_1234567--\n'
    return m
V["clean-outlook-mac-reused-boundary"] = (oe_mac("oem", att('Content-Type: application/pdf; name="minutes.pdf"\nContent-Disposition: attachment; filename="minutes.pdf"\n', b"%PDF-1.4\n%%EOF\n")), "clean")
V["banned-outlook-mac-reused-boundary"] = (oe_mac("oem2", att('Content-Type: application/octet-stream; name="minutes.exe"\nContent-Disposition: attachment; filename="minutes.exe"\n', b"xx")), EXE)
V["virus-outlook-mac-reused-boundary"] = (oe_mac("oem3", att('Content-Type: application/octet-stream; name="minutes.dat"\n', EICAR)), "virus")
V["virus-eicar-text-beside-attachment"] = (mixed("vt", "test", [att('Content-Type: application/pdf; name="x.pdf"\n', b"%PDF-1.4\n%%EOF\n"), "Content-Type: text/plain\n\n" + EICAR.decode() + "\n"]), "virus")

# --- What the scanner must still see when it reads each byte once ---
V["virus-eicar-in-preamble"] = (HEAD.format(subj="pre", name="vpre") + 'Content-Type: multipart/mixed; boundary="p"\n\n' + EICAR.decode() + '\n--p\nContent-Type: text/plain\n\nhello\n--p--\n', "virus")
V["virus-eicar-in-epilogue"] = (HEAD.format(subj="epi", name="vepi") + 'Content-Type: multipart/mixed; boundary="p"\n\n--p\nContent-Type: text/plain\n\nhello\n--p--\n' + EICAR.decode() + '\n', "virus")
V["virus-eicar-inline-html-alternative"] = (HEAD.format(subj="alt", name="valt") + 'Content-Type: multipart/alternative; boundary="a"\n\n--a\nContent-Type: text/plain\n\nhello\n--a\nContent-Type: text/html\n\n<html><body>' + EICAR.decode() + '</body></html>\n--a--\n', "virus")
V["virus-eicar-inline-in-nested-message"] = (mixed("vnm", "fwd", ["Content-Type: message/rfc822\n\nFrom: x@example.org\nSubject: inner\n\n" + EICAR.decode() + "\n"]), "virus")
V["virus-eicar-multipart-without-boundary"] = (HEAD.format(subj="nob", name="vnob") + 'Content-Type: multipart/mixed\n\n' + EICAR.decode() + '\n', "virus")
V["virus-eicar-top-level-base64-text"] = (HEAD.format(subj="b64", name="vb64") + 'Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n' + b64(EICAR), "virus")

# --- False positives: clean mail as real senders write it ---
def ooxml(kind):
    main = {"docx": ("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
            "xlsx": ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")}[kind]
    return zipped([("[Content_Types].xml", ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/%s" ContentType="%s"/></Types>' % main).encode()),
                   ("_rels/.rels", b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>'),
                   ("docProps/core.xml", b'<?xml version="1.0"?><cp:coreProperties xmlns:cp="x"/>'),
                   (main[0], b'<?xml version="1.0"?><document>quarterly figures</document>')])
V["clean-docx-attachment"] = (mixed("docx", "letter", [att('Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name="Letter.docx"\nContent-Disposition: attachment; filename="Letter.docx"\n', ooxml("docx"))]), "clean")
V["clean-xlsx-attachment"] = (mixed("xlsx", "figures", [att('Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name="Q3 figures.xlsx"\nContent-Disposition: attachment; filename="Q3 figures.xlsx"\n', ooxml("xlsx"))]), "clean")
ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//Calendar//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:123@example.org\r\nDTSTART:20261203T100000Z\r\nDTEND:20261203T110000Z\r\nSUMMARY:Budget review\r\nORGANIZER:mailto:alice@example.org\r\nATTENDEE;RSVP=TRUE:mailto:bob@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
def targz(files):
    import gzip, tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for n, d in files:
            ti = tarfile.TarInfo(n); ti.size = len(d); ti.mtime = 1795790748; ti.mode = 0o644
            t.addfile(ti, io.BytesIO(d))
    return gzip.compress(buf.getvalue(), mtime=0)
V["clean-tar-gz-of-text"] = (mixed("tgz", "logs", [att('Content-Type: application/gzip; name="logs.tar.gz"\nContent-Disposition: attachment; filename="logs.tar.gz"\n', targz([("logs/a.txt", b"line\n" * 100), ("logs/b.csv", b"1,2,3\n" * 50)]))]), "clean")
V["clean-calendar-invite"] = (HEAD.format(subj="Invitation: Budget review", name="ics") +
    'Content-Type: multipart/mixed; boundary="cal1"\n\n--cal1\nContent-Type: multipart/alternative; boundary="cal2"\n\n--cal2\nContent-Type: text/plain; charset="UTF-8"\n\nBudget review, Thursday 10:00.\n--cal2\nContent-Type: text/calendar; charset="UTF-8"; method=REQUEST\nContent-Transfer-Encoding: 7bit\n\n' + ICS +
    '--cal2--\n--cal1\nContent-Type: application/ics; name="invite.ics"\nContent-Disposition: attachment; filename="invite.ics"\nContent-Transfer-Encoding: base64\n\n' + b64(ICS.encode()) + '--cal1--\n', "clean")
V["clean-smime-signed"] = (HEAD.format(subj="signed", name="smime") +
    'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="----sig"\n\nThis is an S/MIME signed message\n\n------sig\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nThe contract is agreed.=0A\n\n------sig\nContent-Type: application/pkcs7-signature; name="smime.p7s"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="smime.p7s"\nContent-Description: S/MIME Cryptographic Signature\n\n' +
    b64(b"\x30\x82\x05\x3a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x82\x05\x2b" + bytes(range(256)) * 4) + '\n------sig--\n', "clean")
V["clean-delivery-report"] = ('From: MAILER-DAEMON@example.org\nTo: alice@example.org\nSubject: Undelivered Mail Returned to Sender\nDate: Fri, 27 Nov 2026 14:45:49 +0000\nMessage-ID: <dsn@example.org>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n' +
    'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\n\n--dsn\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\nI could not deliver your message.\n\n--dsn\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; nobody@example.com\nAction: failed\nStatus: 5.1.1\n\n--dsn\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\nFrom: alice@example.org\nTo: nobody@example.com\nSubject: report\n\n--dsn\nContent-Type: message/rfc822\n\nFrom: alice@example.org\nSubject: report\n\nThe report.\n\n--dsn--\n', "clean")
V["clean-8bit-names"] = (mixed("8bit", "Präsentation", [att('Content-Type: application/pdf; name="Präsentation Überblick.pdf"\nContent-Disposition: attachment; filename="Präsentation Überblick.pdf"\n', b"%PDF-1.4\n%%EOF\n"),
    att('Content-Type: application/pdf; name="r\xe9sum\xe9.pdf"\n', b"%PDF-1.4\n%%EOF\n")]), "clean")
V["clean-8bit-names-latin1"] = (mixed("8bitl", "CV", [att('Content-Type: application/pdf; name="r\xe9sum\xe9 \xc4rger.pdf"\nContent-Disposition: attachment; filename="r\xe9sum\xe9 \xc4rger.pdf"\n', b"%PDF-1.4\n%%EOF\n")]), "clean")
V["clean-long-lines"] = (mixed("long", "log", ["Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + ("Zeile mit Ümlauten und langen Wörtern " * 300) + "\n",
    "Content-Type: text/html; charset=utf-8\n\n<html><body>" + ("<td>cell</td>" * 2000) + "</body></html>\n"]), "clean")
V["clean-outlook-reused-boundary-nested"] = (HEAD.format(subj="fw", name="olr") + 'Content-Type: multipart/mixed; boundary="----=_NextPart_000_0001"\n\n------=_NextPart_000_0001\nContent-Type: text/plain\n\nhello\n------=_NextPart_000_0001\nContent-Type: message/rfc822\n\n' +
    'Subject: inner\nContent-Type: multipart/mixed; boundary="----=_NextPart_000_0001"\n\n------=_NextPart_000_0001\nContent-Type: text/plain\n\ninner text\n------=_NextPart_000_0001--\n\n------=_NextPart_000_0001--\n', "clean")

deep = HEAD.format(subj="deep", name="deep")
for i in range(25):
    deep += f'Content-Type: multipart/mixed; boundary="lvl{i}x"\n\n--lvl{i}x\n'
deep += "Content-Type: text/plain\n\nbottom\n"
V["too-complex-deep-nesting"] = (deep, "too-complex")
V["too-complex-zip-members"] = (mixed("zb", "many", [att('Content-Type: application/zip; name="many.zip"\n', zipped([(f"{i}", b"") for i in range(1001)]))]), "too-complex")

LATIN1 = {"clean-8bit-names-latin1"}
for name, (text, expect) in V.items():
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(text.encode("latin-1") if name in LATIN1 else text.encode("utf-8"))
    with open(os.path.join(HERE, name + ".expect"), "w") as f:
        f.write(expect + "\n")
print(len(V), "vectors")
