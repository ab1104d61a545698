"""The confirmation letter (确认函): the signed document's content, a certificate page
saying who signed, when, how and where it is logged, the evidence record and the original
PDF as attachments, all sealed by the company (PAdES)."""

import datetime as dt
from zoneinfo import ZoneInfo

from kaohe.lib.canonical import canonical
from kaohe.signing import render
from kaohe.signing.models import Document, Method, Signature
from kaohe.signing.seal import seal_pdf

__all__ = ["make_letter"]

METHODS = {
    Method.PASSKEY: "通行密钥 passkey (WebAuthn)",
    Method.PASSWORD: "密码复核 password re-authentication",
    Method.EMAIL_CODE: "邮件验证码 one-time code by e-mail",
}
CA_URL = "/api/v1/signing/ca.pem"


def make_letter(document: Document, signature: Signature, checkpoint: dict) -> bytes:
    """The sealed letter for `signature` of `document`; `checkpoint` is the signed
    checkpoint (a dict as kaohe.ledger gives it) that covers the signature's entry."""
    layout = render.Layout()
    render.write_document(layout, document.data)
    layout.new_page()
    write_certificate(layout, document, signature, checkpoint)
    pdf = layout.finish(f"{document.title}（签署证明）")
    evidence = canonical(signature.evidence)
    return seal_pdf(
        pdf,
        [
            ("evidence.json", evidence, "application/json"),
            ("document.pdf", bytes(document.pdf), "application/pdf"),
        ],
    )


def write_certificate(layout, document: Document, signature: Signature, checkpoint: dict) -> None:
    employee = document.employee
    layout.centered("签署证明 / Certificate of signature", render.TITLE, bold=True)
    layout.centered(document.data.get("company", ""), render.BODY)
    layout.gap(8)
    layout.heading("签署 Signature")
    layout.fields(
        [
            ["文件 Document", document.title],
            ["文件编号 Document ID", str(document.public_id)],
            ["签署人 Signer", f"{employee.name}（{employee.employee_no}）"],
            *_times(signature.signed_at),
            ["签署方式 Method", _method(signature)],
            ["IP 地址 IP address", signature.ip or "-"],
            ["浏览器 User agent", signature.user_agent or "-"],
        ]
    )
    layout.heading("文件摘要 Document hashes (SHA-256)")
    layout.fields(
        [
            ["doc_sha256", document.doc_sha256],
            ["data_sha256", document.data_sha256],
            ["pdf_sha256", document.pdf_sha256],
        ]
    )
    layout.heading("证据日志 Evidence log")
    layout.fields(
        [
            ["日志序号 Ledger index", str(signature.entry_index)],
            ["日志 Log ID", str(checkpoint.get("log_id", ""))],
            ["树大小 Tree size", str(checkpoint.get("tree_size", ""))],
            ["根哈希 Root hash", str(checkpoint.get("root_hash", ""))],
            ["签名密钥 Key ID", str(checkpoint.get("key_id", ""))],
            ["检查点时间 Checkpoint time", str(checkpoint.get("time", ""))],
        ]
    )
    layout.heading("如何验证 How to verify")
    layout.paragraphs(
        [
            "本文件由公司电子印章签署（PAdES）。附件 evidence.json 为签署证据记录，"
            "document.pdf 为员工签署的原始文件；其 SHA-256 应等于上述 pdf_sha256。",
            f"This letter is sealed with the company certificate (PAdES). Check the seal "
            f"with the company CA from {CA_URL}: pyhanko sign validate --trust ca.pem "
            f"--trust-replace letter.pdf. The attachment evidence.json is the signature's "
            f"evidence record; document.pdf is the document as signed.",
            f"The signature is entry {signature.entry_index} of the company's append-only "
            f"evidence log; the receipt the employee received proves it: kaohe verify "
            f"receipt.json.",
        ]
    )


def _times(at: dt.datetime) -> list[list[str]]:
    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    return [
        ["签署时间 Signed at (Asia/Shanghai)", local.strftime("%Y-%m-%d %H:%M:%S %z")],
        ["签署时间 Signed at (UTC)", at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
    ]


def _method(signature: Signature) -> str:
    label = METHODS.get(signature.method, signature.method)
    if signature.method == Method.PASSKEY and signature.credential_id:
        return f"{label}; 凭据 credential: {signature.credential.credential_id_b64}"
    return label
