import pytest

from vlm_ocr.pages.front_matter import (
    FrontMatterError,
    PageResponse,
    format_page_markdown,
    parse_page_markdown,
    read_page_markdown,
)

HEAD = (
    "---\nprimary_language: {lang}\nis_rotation_valid: {valid}\nrotation_correction: {rot}\n"
    "is_table: False\nis_diagram: False\n---"
)


def doc(lang="en", valid="True", rot="0", body="\nHello world"):
    return HEAD.format(lang=lang, valid=valid, rot=rot) + body


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "en"),
        ("None", None),
        ("null", None),
        ("NULL", None),
        ("~", None),
        ("", None),
        ("none", "none"),  # YAML 1.1 reads `none` as a string, and the original writes it back as given
        ("no", "no"),
        ("'no'", "no"),
        ("on", "on"),
        ("EN", "EN"),
    ],
)
def test_language_dialects(lang, expected):
    assert parse_page_markdown(doc(lang=lang)).primary_language == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("True", True), ("true", True), ("False", False), ("false", False), ("yes", True), ("Off", False)],
)
def test_boolean_spellings(text, expected):
    assert parse_page_markdown(doc(valid=text)).is_rotation_valid is expected


def test_body_and_blank_page():
    assert parse_page_markdown(doc()).natural_text == "Hello world"
    blank = parse_page_markdown(doc(body=""))
    assert blank.natural_text is None


def test_crlf_and_bom_are_read_not_lost():
    page = parse_page_markdown("\ufeff" + doc().replace("\n", "\r\n"))
    assert page.primary_language == "en" and page.natural_text == "Hello world"


def test_closing_line_of_four_dashes_is_not_a_close():
    content = HEAD.format(lang="en", valid="True", rot="0")
    bad = content[: content.rindex("---")] + "----\nBody"
    with pytest.raises(FrontMatterError, match="not closed"):
        parse_page_markdown(bad, "x.md")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("Just text", "no front matter"),
        (doc(valid="maybe"), "must be true or false"),
        (doc(rot="45"), "rotation_correction must be one of"),
        (doc(rot="ninety"), "must be an integer"),
        (HEAD.format(lang="en", valid="True", rot="0").replace("is_table: False\n", "") + "\nx", "lacks is_table"),
        (doc().replace("---\nprimary", "---\npage_number: 3\nprimary"), "unexpected front-matter keys: page_number"),
        ("---\nprimary_language: [en\n---\nx", "not valid YAML"),
        ("---\n---\nbody", "lacks primary_language"),
    ],
)
def test_bad_front_matter_names_file_and_reason(content, reason):
    with pytest.raises(FrontMatterError, match=reason) as err:
        parse_page_markdown(content, "pages/a.md")
    assert err.value.source == "pages/a.md"
    assert str(err.value).startswith("pages/a.md: ")


def test_extra_keys_allowed_when_asked():
    content = doc().replace("---\nprimary", "---\npage_number: 3\nprimary")
    assert parse_page_markdown(content, allow_extra_keys=True).natural_text == "Hello world"


def test_read_rejects_empty_and_non_utf8(tmp_path):
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "latin.md").write_bytes(doc().encode() + b"\xff\xfe")
    with pytest.raises(FrontMatterError, match="empty file"):
        read_page_markdown(tmp_path / "empty.md")
    with pytest.raises(FrontMatterError, match="not UTF-8"):
        read_page_markdown(tmp_path / "latin.md")


def test_writer_is_the_recipe_format_and_round_trips():
    page = PageResponse("en", True, 0, True, False, "  # Title\n\nText  ")
    written = format_page_markdown(page)
    assert written == (
        "---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\n"
        "is_table: True\nis_diagram: False\n---\n# Title\n\nText"
    )
    assert parse_page_markdown(written) == PageResponse("en", True, 0, True, False, "# Title\n\nText")


@pytest.mark.parametrize(
    ("null_language", "line"), [("null", "primary_language: null"), ("None", "primary_language: None")]
)
def test_writer_null_language_and_blank_page_end(null_language, line):
    written = format_page_markdown(PageResponse(None, False, 90, False, True, None), null_language=null_language)
    assert line in written.split("\n")
    assert written.endswith("is_diagram: True\n---")
    assert parse_page_markdown(written).primary_language is None


@pytest.mark.parametrize("language", ["EN", "English", "no", "pt-BR"])
def test_training_target_writes_the_language_as_given(language):
    from vlm_ocr.data.transforms import FormatTarget

    page = PageResponse(language, True, 0, False, False, "Hei")
    target = FormatTarget()({"page_data": page})["target"]
    assert target.split("\n")[1] == f"primary_language: {language}"  # the recipe's f-string, never quoted


def test_writer_quotes_yaml_special_languages():
    written = format_page_markdown(PageResponse("no", True, 0, False, False, "Hei"))
    assert "primary_language: 'no'" in written
    import yaml

    assert yaml.safe_load(written.split("---")[1])["primary_language"] == "no"
    assert parse_page_markdown(written).primary_language == "no"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"rotation_correction": 45}, ValueError),
        ({"is_table": 1}, TypeError),
        ({"rotation_correction": 90.0}, TypeError),
        ({"primary_language": 3}, TypeError),
    ],
)
def test_page_response_validation(kwargs, error):
    values = dict(
        primary_language="en",
        is_rotation_valid=True,
        rotation_correction=0,
        is_table=False,
        is_diagram=False,
        natural_text=None,
    )
    with pytest.raises(error):
        PageResponse(**{**values, **kwargs})
