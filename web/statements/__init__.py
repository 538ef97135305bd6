"""The statement pages: the selector (`selector`), the statement page and its files (`page`), and their
bookmarkable addresses (`addresses`).

Every route reads through `shared.statements`, whose queries are scoped to the signed-in user's grants: a
statement the user may not see answers 404 exactly like one that does not exist (and so does a malformed
address).
"""

from __future__ import annotations

from typing import Any

from shared.i18n import add_translations
from web.statements.addresses import content_disposition, selector_url, statement_url
from web.statements.page import statement_file_status, statement_page
from web.statements.selector import statement_companies, statement_customers, statement_selector

UI_TRANSLATIONS_EN: dict[str, str] = {
    "Consulta de estado de cuenta": "Account statement lookup",
    "Cliente": "Customer",
    "Buscar cliente por número o nombre": "Search customer by number or name",
    "Número o nombre": "Number or name",
    "Buscar": "Search",
    "Elige un cliente": "Choose a customer",
    "Empresa": "Company",
    "Elige una empresa": "Choose a company",
    "Primero elige el cliente y pulsa Buscar.": "First choose the customer and press Search.",
    "Fecha de corte": "Cut-off date",
    "Generar": "Generate",
    "No encontramos clientes con ese número o nombre.": "No customers match that number or name.",
    "No tienes clientes asignados. Pide acceso a tu administrador.": (
        "You have no customers assigned. Ask your administrator for access."
    ),
    "Elige un cliente.": "Choose a customer.",
    "Elige una empresa.": "Choose a company.",
    "Ese cliente no tiene cuenta en esa empresa.": "That customer has no account at that company.",
    "Escribe la fecha de corte como AAAA-MM-DD.": "Enter the cut-off date as YYYY-MM-DD.",
    "La fecha de corte no puede ser futura.": "The cut-off date cannot be in the future.",
    "Mostrando los primeros {count} clientes; escribe para acotar.": (
        "Showing the first {count} customers; type to narrow down."
    ),
    "Descargar XLS": "Download XLS",
    "Descargar PDF": "Download PDF",
    "Descargar JSON": "Download JSON",
    "Cambiar consulta": "Change lookup",
    "Partidas abiertas": "Open items",
    "Buscar en las partidas": "Search the items",
    "Ordenar por": "Sort by",
    "Ascendente": "Ascending",
    "Descendente": "Descending",
    "Aplicar": "Apply",
    "Quitar filtro": "Clear filter",
    "Mostrando {shown} de {total} partidas.": "Showing {shown} of {total} items.",
    "Ninguna partida coincide con la búsqueda.": "No item matches the search.",
    "Documento": "Document",
    "Tipo": "Type",
    "Referencia": "Reference",
    "Fecha del documento": "Document date",
    "Vencimiento": "Due date",
    "Días vencidos": "Days overdue",
    "Importe": "Amount",
    "Moneda": "Currency",
    "Preparando tu archivo": "Preparing your file",
    "Estamos generando el archivo {name}. La descarga empezará sola cuando esté listo.": (
        "We are generating the file {name}. The download will start by itself when it is ready."
    ),
    "Tiempo transcurrido": "Elapsed time",
    "Si la descarga no empieza, usa este enlace:": "If the download does not start, use this link:",
    "Volver a intentar la descarga": "Try the download again",
    "Volver al estado de cuenta": "Back to the statement",
    "El archivo está listo.": "The file is ready.",
    "Preparando…": "Preparing…",
}


def register_translations() -> None:
    add_translations("en", UI_TRANSLATIONS_EN)


route_handlers: list[Any] = [
    statement_selector,
    statement_customers,
    statement_companies,
    statement_page,
    statement_file_status,
]

register_translations()

__all__ = ["content_disposition", "route_handlers", "selector_url", "statement_url"]
