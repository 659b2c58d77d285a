"""Web and text builders: declaration HTML, Gettysburg Markdown, inaugural text, amendments CSV."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from .common import SOURCES, blocks, read_source, write_text

# --------------------------------------------------------------------------- HTML

HTML_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>The Declaration of Independence | The Founders' Reading Room</title>
  <meta name="description" content="Full text of the Declaration of Independence, July 4, 1776.">
  <link rel="canonical" href="https://example.org/documents/declaration-of-independence">
  <style>
    body {{ font-family: Georgia, serif; margin: 0; color: #222; }}
    nav ul {{ list-style: none; display: flex; gap: 1.5em; margin: 0; padding: 0.75em 2em; background: #1b2a41; }}
    nav a {{ color: #fff; text-decoration: none; }}
    header.banner {{ padding: 2em; background: #f3efe4; border-bottom: 1px solid #d8d0b8; }}
    main {{ display: flex; gap: 3em; padding: 2em; }}
    article {{ max-width: 42em; line-height: 1.6; }}
    aside {{ width: 16em; font-size: 0.9em; }}
    footer {{ padding: 1.5em 2em; background: #eee; font-size: 0.8em; }}
    .cookie-banner {{ position: fixed; bottom: 0; left: 0; right: 0; padding: 1em; background: #333; color: #fff; }}
  </style>
  <script>
    window.dataLayer = window.dataLayer || [];
    function acceptCookies() {{ document.getElementById("cookie-banner").hidden = true; }}
  </script>
</head>
<body>
  <nav aria-label="Main menu">
    <ul>
      <li><a href="/">Home</a></li>
      <li><a href="/about">About</a></li>
      <li><a href="/archives">Archives</a></li>
      <li><a href="/donate">Donate</a></li>
    </ul>
  </nav>
  <header class="banner">
    <p class="site-name">The Founders' Reading Room</p>
    <p class="tagline">Primary sources of American history, free to read. Subscribe to our newsletter for a new document every week!</p>
  </header>
  <main>
    <article>
      <h1>The Declaration of Independence</h1>
{article}
    </article>
    <aside class="sidebar">
      <h3>Related documents</h3>
      <ul>
        <li><a href="/documents/articles-of-confederation">The Articles of Confederation</a></li>
        <li><a href="/documents/constitution">The Constitution of the United States</a></li>
        <li><a href="/documents/bill-of-rights">The Bill of Rights</a></li>
      </ul>
      <p>Share this page: <a href="#">Email</a> &middot; <a href="#">Print</a></p>
    </aside>
  </main>
  <footer>
    <p>&copy; 2024 The Founders' Reading Room. Site design and commentary all rights reserved. The text of the Declaration of Independence is in the public domain.</p>
    <p><a href="/privacy">Privacy Policy</a> | <a href="/terms">Terms of Use</a> | <a href="/cookies">Cookie Policy</a> | <a href="/contact">Contact us</a></p>
    <div class="cookie-banner" id="cookie-banner" role="dialog" aria-label="Cookie consent">
      We use cookies to improve your experience and to analyse site traffic. By continuing to browse this site you agree to our use of cookies.
      <button type="button" onclick="acceptCookies()">Accept all cookies</button>
    </div>
  </footer>
</body>
</html>
"""


def build_declaration_html(out: Path) -> None:
    """Write the Declaration as an article inside a boilerplate-heavy web page."""
    parts = blocks(read_source("declaration.txt"))
    dateline, heading, paragraphs = parts[0], parts[1], parts[2:]

    grievances_start = next(i for i, p in enumerate(paragraphs) if p.startswith("He has refused his Assent"))
    conclusion_start = next(i for i, p in enumerate(paragraphs) if p.startswith("In every stage"))
    preamble = paragraphs[:grievances_start]
    grievances = paragraphs[grievances_start:conclusion_start]
    conclusion = paragraphs[conclusion_start:]

    def esc(text: str) -> str:
        return html.escape(" ".join(text.split("\n")), quote=False)

    indent = " " * 6
    lines = [
        f'{indent}<p class="dateline">{esc(dateline)}</p>',
        f'{indent}<p class="subtitle"><strong>{esc(heading)}</strong></p>',
        f"{indent}<h2>Preamble</h2>",
    ]
    lines += [f"{indent}<p>{esc(p)}</p>" for p in preamble]
    lines.append(f"{indent}<h2>Grievances</h2>")
    in_list = False
    for p in grievances:
        # The "For ..." clauses continue the preceding "He has combined ..." sentence.
        if p.startswith("For "):
            if not in_list:
                lines.append(f"{indent}<ul>")
                in_list = True
            lines.append(f"{indent}  <li>{esc(p)}</li>")
        else:
            if in_list:
                lines.append(f"{indent}</ul>")
                in_list = False
            lines.append(f"{indent}<p>{esc(p)}</p>")
    if in_list:
        lines.append(f"{indent}</ul>")
    lines.append(f"{indent}<h2>Conclusion</h2>")
    lines += [f"{indent}<p>{esc(p)}</p>" for p in conclusion]

    write_text(out, HTML_TEMPLATE.format(article="\n".join(lines)))


# --------------------------------------------------------------------------- Markdown / text / CSV


GETTYSBURG_ABOUT = (
    "The Gettysburg Address was delivered by President Abraham Lincoln on November 19, 1863, "
    "at the dedication of the Soldiers' National Cemetery in Gettysburg, Pennsylvania, "
    "four and a half months after the Battle of Gettysburg. "
    "The text below follows the Bliss copy, the manuscript Lincoln wrote out in 1864 and the "
    "version most often reproduced."
)


def build_gettysburg_md(out: Path) -> None:
    """Write the Gettysburg Address as Markdown with an About section."""
    text = read_source("gettysburg.txt").strip()
    md = "\n".join(
        [
            "# The Gettysburg Address",
            "",
            "## About",
            "",
            GETTYSBURG_ABOUT,
            "",
            "## Text",
            "",
            text,
            "",
        ]
    )
    write_text(out, md)


def build_second_inaugural_txt(out: Path) -> None:
    """Write the Second Inaugural Address as plain text with a three-line header."""
    text = read_source("lincoln_second_inaugural.txt").strip()
    header = "Second Inaugural Address\nAbraham Lincoln\nWashington, D.C., March 4, 1865\n\n"
    write_text(out, header + text + "\n")


def build_amendments_csv(out: Path) -> None:
    """Copy the amendments table to ``out`` unchanged."""
    shutil.copyfile(SOURCES / "amendments_table.csv", out)
