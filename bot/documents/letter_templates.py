"""The first version of the letter templates (templates/letters/*.docx), by python-docx.

The MA-001 letters (autorización, baja, custodia) and the MA-005 carta responsiva. Run
``python -m bot.documents.letter_templates [folder]`` to write the templates (by default
into the repository's templates/letters). From then on the committed .docx files are
the source: people edit them in Word, and this script only serves to start over. Every Jinja
tag is written with plain ASCII characters and kept in a single run, so docxtpl reads it as
written; the archive gets fixed timestamps so that rebuilding gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import sys
import zipfile
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Inches, Length, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

__all__ = [
    "APP_COLUMNS",
    "AUTHORIZATION_FILE",
    "CUSTODY_FILE",
    "DESK_NAME",
    "FONT",
    "REMOVAL_FILE",
    "RESPONSIVA_FILE",
    "TEMPLATES",
    "TOTAL_LABEL",
    "USER_COLUMNS",
    "build_authorization",
    "build_custody",
    "build_removal",
    "build_responsiva",
    "main",
    "write_templates",
]

ROOT = Path(__file__).resolve().parents[2]
LETTERS_DIR = ROOT / "templates" / "letters"
AUTHORIZATION_FILE = "carta_autorizacion.docx"
CUSTODY_FILE = "carta_custodia.docx"
REMOVAL_FILE = "carta_baja.docx"
RESPONSIVA_FILE = "carta_responsiva.docx"

DESK_NAME = "Mesa de Ayuda N1"
ADDRESSEE = "MetLife México, S.A."
# Arial is on every office PC; LibreOffice substitutes the metric-compatible Liberation Sans.
FONT = "Arial"
MONO_FONT = "Courier New"
LANGUAGE = "es-MX"
HEADER_FILL = "D9E1F2"
GREY = RGBColor(0x59, 0x59, 0x59)
# (header, attribute of each row of ``users``, width): 16.5 cm fit between 2.5 cm margins.
USER_COLUMNS = (
    ("Nombre", "nombre", Cm(3.8)),
    ("RFC", "rfc", Cm(3.4)),
    ("Correo electrónico", "correo", Cm(4.9)),
    ("Zona", "zona", Cm(2.5)),
    ("Paquete", "paquete", Cm(1.9)),
)
# The carta responsiva's table (header, attribute of each row of ``apps``, width), 16.5 cm,
# and the first cell of its totals row; letters.responsiva_counts reads the table by them.
APP_COLUMNS = (
    ("Aplicación", "name", Cm(7.5)),
    ("Usuarios", "total", Cm(3.0)),
    ("Activos", "active", Cm(3.0)),
    ("Bajas", "removed", Cm(3.0)),
)
TOTAL_LABEL = "Total"
# The pPr children that the schema places after pBdr (those python-docx may write).
_AFTER_PBDR = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:bidi",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:jc",
    "w:textAlignment",
    "w:outlineLvl",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)
_FIXED_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
_EDITING_NOTE = (
    "Plantilla de Mesa Bot. Los campos entre llaves se llenan al generar la carta; "
    "si los edita en Word, use comillas rectas y no separe las llaves."
)


# --- building blocks --------------------------------------------------------------------


def _set_fonts(rpr: BaseOxmlElement, name: str) -> None:
    """Point every script slot of an rPr's rFonts at one font, dropping theme fonts."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attribute}"), None)
    for attribute in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attribute}"), name)


def _setup_styles(document: DocumentObject) -> None:
    """Arial 11 pt, Mexican Spanish for spelling, modest spacing; smaller header and footer."""
    styles = document.styles
    defaults = styles.element.find(qn("w:docDefaults"))
    if defaults is not None:
        default_rpr = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}")
        if default_rpr is not None:
            _set_fonts(default_rpr, FONT)
            default_language = default_rpr.find(qn("w:lang"))
            if default_language is not None:
                for attribute in ("val", "eastAsia"):
                    default_language.set(qn(f"w:{attribute}"), LANGUAGE)
    normal = styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(11)
    rpr = normal.element.get_or_add_rPr()
    _set_fonts(rpr, FONT)
    language = OxmlElement("w:lang")
    for attribute in ("val", "eastAsia"):
        language.set(qn(f"w:{attribute}"), LANGUAGE)
    rpr.append(language)
    paragraph_format = normal.paragraph_format
    paragraph_format.space_before = Pt(0)
    paragraph_format.space_after = Pt(6)
    paragraph_format.line_spacing = 1.15
    for name, size in (("Header", 10), ("Footer", 8)):
        style = styles[name]
        style.font.size = Pt(size)
        style.font.color.rgb = GREY
        style.paragraph_format.space_after = Pt(0)


def _setup_page(document: DocumentObject) -> None:
    """US Letter, portrait, 2.5 cm margins."""
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width = Inches(8.5)
    section.page_height = Inches(11)
    for side in ("top_margin", "bottom_margin", "left_margin", "right_margin"):
        setattr(section, side, Cm(2.5))
    section.header_distance = Cm(1.2)
    section.footer_distance = Cm(1.2)


def _add_field(paragraph: Paragraph, instruction: str) -> None:
    """A simple Word field (PAGE, NUMPAGES) at the end of the paragraph."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _bottom_border(paragraph: Paragraph) -> None:
    """A thin rule under the paragraph (the letterhead's line)."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", "6"), ("space", "4"), ("color", "808080")):
        bottom.set(qn(f"w:{key}"), value)
    borders.append(bottom)
    # Word rejects pPr children out of schema order: pBdr goes after pStyle, before these.
    ppr.insert_element_before(borders, *_AFTER_PBDR)


def _setup_header_footer(document: DocumentObject, footer_note: str | None) -> None:
    """Letterhead with the organization and the desk; footer with reference and page."""
    section = document.sections[0]
    header = section.header
    first = header.paragraphs[0]
    first.style = document.styles["Header"]
    name = first.add_run("{{ organization }}")
    name.bold = True
    name.font.size = Pt(14)
    name.font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)
    desk = header.add_paragraph(DESK_NAME, style="Header")
    desk.paragraph_format.space_after = Pt(12)
    _bottom_border(desk)

    footer = section.footer
    line = footer.paragraphs[0]
    line.style = document.styles["Footer"]
    line.alignment = WD_ALIGN_PARAGRAPH.CENTER
    line.add_run(f"{DESK_NAME} · Referencia {{{{ case_ref }}}} · Página ")
    _add_field(line, "PAGE")
    line.add_run(" de ")
    _add_field(line, "NUMPAGES")
    if footer_note:
        note = footer.add_paragraph(footer_note, style="Footer")
        note.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _drop_thumbnail(document: DocumentObject) -> None:
    """python-docx's default package carries a thumbnail of another document: remove it."""
    package_rels = document.part.package.rels
    for key, relationship in list(package_rels.items()):
        if relationship.reltype == RELATIONSHIP_TYPE.THUMBNAIL:
            package_rels.pop(key)


def _new_document(
    title: str, subject: str, footer_note: str | None = None, *, process: str = "MA-001"
) -> DocumentObject:
    """An empty letter: page, styles, letterhead, footer and document properties."""
    document = Document()
    _setup_page(document)
    _setup_styles(document)
    _setup_header_footer(document, footer_note)
    _drop_thumbnail(document)
    properties = document.core_properties
    properties.title = title
    properties.subject = subject
    properties.author = DESK_NAME
    properties.last_modified_by = DESK_NAME
    properties.comments = _EDITING_NOTE
    properties.keywords = process
    properties.language = LANGUAGE
    properties.category = "Plantilla"
    properties.revision = 1
    properties.created = _FIXED_TIME
    properties.modified = _FIXED_TIME
    properties.last_printed = _FIXED_TIME
    return document


def _paragraph(
    document: DocumentObject,
    text: str = "",
    *,
    bold: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
    space_after: float | None = None,
    keep_with_next: bool = False,
    style: str | None = None,
) -> Paragraph:
    """A body paragraph with one run."""
    paragraph = document.add_paragraph(style=style)
    if text:
        paragraph.add_run(text).bold = bold
    if align is not None:
        paragraph.alignment = align
    if space_after is not None:
        paragraph.paragraph_format.space_after = Pt(space_after)
    if keep_with_next:
        paragraph.paragraph_format.keep_with_next = True
    return paragraph


def _date_and_subject(document: DocumentObject, subject: str) -> None:
    """Place and long date, then the subject line, both right-aligned."""
    _paragraph(
        document,
        "{{ place }}, a {{ date }}",
        align=WD_ALIGN_PARAGRAPH.RIGHT,
        space_after=0,
    )
    line = _paragraph(document, align=WD_ALIGN_PARAGRAPH.RIGHT, space_after=18)
    line.add_run("Asunto: ").bold = True
    line.add_run(subject)


def _addressee(document: DocumentObject, lines: Sequence[str]) -> None:
    """The addressee block: bold first line, then the rest, ending with "Presente"."""
    for index, text in enumerate(lines):
        _paragraph(document, text, bold=index == 0, space_after=0)
    _paragraph(document, "P r e s e n t e", bold=True, space_after=18)


def _body(document: DocumentObject, text: str, *, space_after: float = 10) -> Paragraph:
    """A justified body paragraph."""
    return _paragraph(document, text, align=WD_ALIGN_PARAGRAPH.JUSTIFY, space_after=space_after)


def _cell_text(
    cell: _Cell,
    text: str,
    *,
    bold: bool = False,
    size: float = 9,
    font: str | None = None,
    center: bool = False,
) -> None:
    """Write one run into the cell's first paragraph."""
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_after = Pt(0)
    paragraph.paragraph_format.line_spacing = 1.0
    if center:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if text:
        run = paragraph.add_run(text)
        run.bold = bold
        run.font.size = Pt(size)
        if font is not None:
            run.font.name = font


def _shade(cell: _Cell, fill: str) -> None:
    """Background colour of a cell (after its width, as the schema orders tcPr)."""
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shading)


def _row_flags(table: Table, index: int, *, header: bool) -> None:
    """Rows never split across pages; the header row repeats on every page."""
    trpr = table.rows[index]._tr.get_or_add_trPr()
    names = ("w:cantSplit", "w:tblHeader") if header else ("w:cantSplit",)
    for name in names:
        trpr.append(OxmlElement(name))


def _table(
    document: DocumentObject,
    headers: Sequence[str],
    widths: Sequence[Length],
    rows: Sequence[Sequence[str]],
    *,
    font: str | None = None,
    size: float = 9,
    centered: Sequence[int] = (),
) -> Table:
    """A grid table with a shaded header row and the given body rows (tags or text)."""
    table: Table = document.add_table(rows=1 + len(rows), cols=len(headers))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for index, width in enumerate(widths):
        table.columns[index].width = width
    for column, header in enumerate(headers):
        cell = table.rows[0].cells[column]
        cell.width = widths[column]
        _shade(cell, HEADER_FILL)
        _cell_text(cell, header, bold=True, center=True)
    _row_flags(table, 0, header=True)
    for row_index, values in enumerate(rows, start=1):
        for column, value in enumerate(values):
            cell = table.rows[row_index].cells[column]
            cell.width = widths[column]
            _cell_text(cell, value, font=font, size=size, center=column in centered)
        _row_flags(table, row_index, header=False)
    return table


def _users_table(document: DocumentObject) -> Table:
    """The users' table: header row, then one row per user through docxtpl's {%tr %} tags."""
    empty = [""] * (len(USER_COLUMNS) - 1)
    rows = [
        ["{%tr for u in users %}", *empty],
        [f"{{{{ u.{attribute} }}}}" for _header, attribute, _width in USER_COLUMNS],
        ["{%tr endfor %}", *empty],
    ]
    return _table(
        document,
        [header for header, _attribute, _width in USER_COLUMNS],
        [width for _header, _attribute, width in USER_COLUMNS],
        rows,
        centered=[len(USER_COLUMNS) - 1],
    )


def _apps_table(document: DocumentObject) -> Table:
    """The responsiva's table: one row per application ({%tr %} tags), then the totals row."""
    empty = [""] * (len(APP_COLUMNS) - 1)
    rows = [
        ["{%tr for a in apps %}", *empty],
        [f"{{{{ a.{attribute} }}}}" for _header, attribute, _width in APP_COLUMNS],
        ["{%tr endfor %}", *empty],
        [TOTAL_LABEL, "{{ total }}", "{{ active }}", "{{ removed }}"],
    ]
    table = _table(
        document,
        [header for header, _attribute, _width in APP_COLUMNS],
        [width for _header, _attribute, width in APP_COLUMNS],
        rows,
        size=10,
        centered=range(1, len(APP_COLUMNS)),
    )
    for cell in table.rows[-1].cells:
        _shade(cell, HEADER_FILL)
        for run in cell.paragraphs[0].runs:
            run.bold = True
    return table


def _signature(document: DocumentObject, lead: str, lines: Sequence[str]) -> None:
    """The signature block: lead text, room to sign, a rule, then name lines (first bold)."""
    _paragraph(document, space_after=0)
    _paragraph(document, lead, keep_with_next=True, space_after=42)
    _paragraph(
        document,
        "_" * 36,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        keep_with_next=True,
        space_after=0,
    )
    for index, text in enumerate(lines):
        last = index == len(lines) - 1
        _paragraph(
            document,
            text,
            bold=index == 0,
            align=WD_ALIGN_PARAGRAPH.CENTER,
            keep_with_next=not last,
            space_after=0,
        )


def _director_signature(document: DocumentObject) -> None:
    """The director's signature block."""
    _signature(
        document,
        "Atentamente,",
        ["{{ director_name }}", "{{ director_title }}", "{{ organization }}"],
    )


def _save(document: DocumentObject) -> bytes:
    """The document as .docx bytes with fixed archive timestamps."""
    buffer = BytesIO()
    document.save(buffer)
    source = zipfile.ZipFile(BytesIO(buffer.getvalue()))
    output = BytesIO()
    with source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, source.read(info))
    return output.getvalue()


# --- the letters ------------------------------------------------------------------------


def build_authorization() -> bytes:
    """Carta de autorización: the director authorizes MetLife to create the listed users."""
    document = _new_document(
        "Carta de autorización de alta de usuarios",
        "MA-001: autorización del Director General para el alta de usuarios en MetLife",
    )
    _date_and_subject(document, "Autorización de alta de usuarios")
    _addressee(document, [ADDRESSEE])
    _body(
        document,
        "Por medio de la presente, en mi carácter de {{ director_title }} de "
        "{{ organization }}, autorizo a " + ADDRESSEE + " a dar de alta a los usuarios "
        "administrativos y de promotoría que se listan a continuación, con acceso a las "
        "aplicaciones del paquete indicado para cada uno:",
    )
    _users_table(document)
    _paragraph(document, space_after=0)
    _body(
        document,
        "Los datos de cada usuario fueron verificados por nuestra " + DESK_NAME + ", que "
        "dará seguimiento a esta solicitud con la referencia {{ case_ref }}. Les agradeceré "
        "confirmar el alta de los usuarios a la " + DESK_NAME + " una vez realizada.",
    )
    _body(document, "Sin otro particular, quedo a sus órdenes.")
    _director_signature(document)
    return _save(document)


def build_removal() -> bytes:
    """Carta de baja: the director asks MetLife to remove the listed users."""
    document = _new_document(
        "Carta de solicitud de baja de usuarios",
        "MA-001: solicitud del Director General para la baja de usuarios en MetLife",
    )
    _date_and_subject(document, "Solicitud de baja de usuarios")
    _addressee(document, [ADDRESSEE])
    _body(
        document,
        "Por medio de la presente, en mi carácter de {{ director_title }} de "
        "{{ organization }}, solicito a " + ADDRESSEE + " la baja de los usuarios "
        "administrativos y de promotoría que se listan a continuación, así como la "
        "cancelación de su acceso a todas las aplicaciones que tengan asignadas:",
    )
    _users_table(document)
    _paragraph(document, space_after=0)
    _body(
        document,
        "Les agradeceré aplicar la baja a la brevedad y confirmarla a nuestra "
        + DESK_NAME
        + " una vez realizada, indicando la referencia {{ case_ref }}.",
    )
    _body(document, "Sin otro particular, quedo a sus órdenes.")
    _director_signature(document)
    return _save(document)


def build_custody() -> bytes:
    """Carta custodia: the user receives their credentials and keeps them confidential."""
    document = _new_document(
        "Carta custodia de credenciales de acceso",
        "MA-001: recepción y custodia de las credenciales de acceso a MetLife",
        footer_note="Documento confidencial: contiene credenciales de acceso.",
    )
    _date_and_subject(document, "Carta custodia de credenciales de acceso")
    _addressee(document, ["{{ organization }}", DESK_NAME])
    _body(
        document,
        "Yo, {{ user.nombre }}, con RFC {{ user.rfc }}"
        "{% if user.puesto %}, {{ user.puesto }}{% endif %}"
        "{% if user.promotoria %}, de la promotoría {{ user.promotoria }}{% endif %}, "
        "hago constar que en esta fecha recibo de la " + DESK_NAME + " de {{ organization }} "
        "mis credenciales personales de acceso a las aplicaciones de MetLife del paquete "
        "{{ user.paquete }}, que desde este momento quedan bajo mi custodia y responsabilidad:",
    )
    _table(
        document,
        [header for header, _attribute, _width in USER_COLUMNS],
        [width for _header, _attribute, width in USER_COLUMNS],
        [[f"{{{{ user.{attribute} }}}}" for _header, attribute, _width in USER_COLUMNS]],
        centered=[len(USER_COLUMNS) - 1],
    )
    _paragraph(document, space_after=0)
    _table(
        document,
        ["Usuario", "Contraseña"],
        [Cm(8.25), Cm(8.25)],
        [["{{ username }}", "{{ password }}"]],
        font=MONO_FONT,
        size=11,
    )
    _paragraph(document, space_after=0)
    _body(document, "Al recibirlas me comprometo a:", space_after=4)
    for commitment in (
        "Mantener el usuario y la contraseña en estricta confidencialidad: son personales e "
        "intransferibles, y no los compartiré, prestaré ni daré a conocer a nadie.",
        "No anotarlos en lugares visibles ni guardarlos donde otras personas puedan verlos.",
        "Cambiar la contraseña cuando la aplicación lo solicite.",
        "Avisar de inmediato a la " + DESK_NAME + " si sospecho que otra persona conoce o ha "
        "usado mis credenciales, para que sean cambiadas.",
        "Responder por el uso que se haga de ellas mientras estén bajo mi custodia.",
    ):
        item = _paragraph(document, commitment, style="List Number", space_after=2)
        item.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    _signature(document, "Recibí de conformidad,", ["{{ user.nombre }}", "Nombre y firma"])
    return _save(document)


def build_responsiva() -> bytes:
    """Carta responsiva (MA-005): the director certifies the yearly recertification file."""
    document = _new_document(
        "Carta responsiva de recertificación anual de usuarios",
        "MA-005: carta responsiva del representante legal sobre la recertificación anual "
        "de usuarios en MetLife",
        process="MA-005",
    )
    _date_and_subject(document, "Carta responsiva: recertificación anual de usuarios {{ year }}")
    _addressee(document, [ADDRESSEE, "Atención: {{ metlife_contact }}"])
    _body(
        document,
        "Por medio de la presente, {{ organization }}, por conducto de su representante "
        "legal, hace constar que, como parte de la recertificación anual de usuarios "
        "{{ year }}, revisó a los usuarios que tienen acceso a {{ applications_text }}.",
    )
    _body(
        document,
        "Como resultado de dicha revisión, el archivo adjunto “{{ file_name }}” contiene la "
        "relación de {{ total }} usuario{% if total != 1 %}s{% endif %} con su estatus "
        "final: {{ active }} con estatus de activo, cuyo acceso se mantiene, y {{ removed }} "
        "con estatus de baja, cuyo acceso deberá darse de baja. El detalle por aplicación es "
        "el siguiente:",
    )
    _apps_table(document)
    _paragraph(document, space_after=0)
    _body(
        document,
        "Asimismo, hace constar que únicamente conserva su acceso el personal autorizado que "
        "se encuentra en funciones.",
    )
    _body(
        document,
        "Por lo anterior, {{ organization }} asume la responsabilidad por la veracidad de la "
        "información contenida en la presente carta y en el archivo adjunto.",
    )
    _body(document, "Sin otro particular, reciban un cordial saludo.")
    _signature(
        document,
        "Atentamente,",
        [
            "{{ director_name }}",
            "{{ director_title }}",
            "Representante legal",
            "{{ organization }}",
        ],
    )
    return _save(document)


TEMPLATES: dict[str, Callable[[], bytes]] = {
    AUTHORIZATION_FILE: build_authorization,
    CUSTODY_FILE: build_custody,
    REMOVAL_FILE: build_removal,
    RESPONSIVA_FILE: build_responsiva,
}


def write_templates(folder: Path) -> list[Path]:
    """Write the templates into ``folder`` (created if needed); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in TEMPLATES.items():
        path = folder / name
        path.write_bytes(build())
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the templates into the given folder, or templates/letters of the repository."""
    args = list(sys.argv[1:] if argv is None else argv)
    folder = Path(args[0]) if args else LETTERS_DIR
    for path in write_templates(folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
