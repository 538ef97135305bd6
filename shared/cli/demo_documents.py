"""Small invoice documents for the demo data and the tests: a one-page PDF and a CFDI-like XML per invoice.

The PDF is written by hand (one page, Helvetica, a correct cross-reference table), so making a few of them costs
nothing; the XML follows the shape of a CFDI 4.0 (`cfdi:Comprobante` with issuer, receiver and one concept),
without a seal: it shows what the portal links, not a valid tax document.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from xml.sax.saxutils import quoteattr


def _pdf_text(text: str) -> str:
    """A PDF string literal of Latin-1 text (other characters become `?`)."""
    raw = text.encode("latin-1", "replace").decode("latin-1")
    return "(" + raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def invoice_pdf(company: str, document_number: str, customer: str, amount: Decimal, day: dt.date) -> bytes:
    """A one-page PDF naming the invoice, its customer, date and amount."""
    lines = [
        f"{company}",
        f"Factura {document_number}",
        f"Cliente: {customer}",
        f"Fecha: {day.isoformat()}",
        f"Total: {amount:.2f}",
    ]
    stream = "BT /F1 14 Tf 72 760 Td 18 TL " + " ".join(f"{_pdf_text(line)} '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return bytes(out)


def invoice_xml(
    company: str, company_tax_id: str, document_number: str, customer: str, amount: Decimal, day: dt.date
) -> bytes:
    """A CFDI-like XML of the invoice (issuer, receiver, one concept, the total with 16 % VAT inside)."""
    subtotal = (amount / Decimal("1.16")).quantize(Decimal("0.01"))
    tax = amount - subtotal
    serie, _, folio = document_number.rpartition("-")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/4" Version="4.0"'
        f" Serie={quoteattr(serie)} Folio={quoteattr(folio or document_number)}"
        f' Fecha="{day.isoformat()}T12:00:00" SubTotal="{subtotal:.2f}" Moneda="MXN" Total="{amount:.2f}"'
        ' TipoDeComprobante="I" Exportacion="01" LugarExpedicion="37000">\n'
        f"  <cfdi:Emisor Rfc={quoteattr(company_tax_id or 'XAXX010101000')} Nombre={quoteattr(company)}"
        ' RegimenFiscal="601"/>\n'
        f'  <cfdi:Receptor Rfc="XAXX010101000" Nombre={quoteattr(customer)} UsoCFDI="G03"/>\n'
        "  <cfdi:Conceptos>\n"
        f'    <cfdi:Concepto ClaveProdServ="01010101" Cantidad="1" ClaveUnidad="H87" Descripcion="Mercancía"'
        f' ValorUnitario="{subtotal:.2f}" Importe="{subtotal:.2f}" ObjetoImp="02"/>\n'
        "  </cfdi:Conceptos>\n"
        f'  <cfdi:Impuestos TotalImpuestosTrasladados="{tax:.2f}"/>\n'
        "</cfdi:Comprobante>\n"
    ).encode()
