import pytest

from kkimage.errors import ReferenceError_, TemplateError
from kkimage.reference import parse_reference
from kkimage.template import (
    HELPERS,
    DestinationTemplate,
    _environment,
    _translate,
    render_destination,
    source_variables,
)

SOURCE = parse_reference("docker.io/kubesphere/ks-apiserver:v4.1.3")
DIGEST = "sha256:" + "b" * 64
SEED_DEST = (
    "hub.kubekey/{{ .module.image.src.reference.repository }}"
    ":{{ .module.image.src.reference.reference }}"
)


def render(text, source=SOURCE, **user):
    return DestinationTemplate(text).render(source_variables(source, user))


def test_the_seed_example():
    assert str(render_destination(DestinationTemplate(SEED_DEST), SOURCE)) == (
        "hub.kubekey/kubesphere/ks-apiserver:v4.1.3"
    )


RENDERINGS = [
    ("{{ .module.image.src.reference.registry }}", "docker.io"),
    ("{{ .module.image.src.reference.repository }}", "kubesphere/ks-apiserver"),
    ("{{ .module.image.src.reference.reference }}", "v4.1.3"),
    ("{{ .module.image.reference.repository }}", "kubesphere/ks-apiserver"),  # G2 spelling
    ("{{.module.image.src.reference.reference}}", "v4.1.3"),
    ('{{ printf "%s-%s" .module.image.src.reference.registry "x" }}', "docker.io-x"),
    (
        '{{ .module.image.src.reference.repository | replace "/" "-" }}',
        "kubesphere-ks-apiserver",
    ),
    ('{{ .module.image.src.reference.repository | trimPrefix "kubesphere/" }}', "ks-apiserver"),
    ('{{ .module.image.src.reference.reference | trimSuffix ".3" | upper }}', "V4.1"),
    ('{{ " a " | trim }}', "a"),
    ('{{ "AbC" | lower }}', "abc"),
    ('{{ .module.image.src.reference.repository | splitList "/" | last }}', "ks-apiserver"),
    ('{{ .module.image.src.reference.repository | splitList "/" | first }}', "kubesphere"),
    ('{{ splitList "/" "a/b/c" | join "_" }}', "a_b_c"),
    ('{{ regexReplaceAll "^ks-(.*)$" "ks-apiserver" "kubekey-${1}" }}', "kubekey-apiserver"),
    ('{{ .empty_var | default "fallback" }}', "fallback"),
    ('{{ "" | default "d" }}', "d"),
    (
        '{{ if eq .module.image.src.reference.registry "docker.io" }}hub{{ else }}x{{ end }}',
        "hub",
    ),
    (
        '{{ if ne .module.image.src.reference.registry "quay.io" }}y{{else if eq 1 2}}x{{end}}',
        "y",
    ),
    ("literal/with/no-template:v1", "literal/with/no-template:v1"),
    ('a {{- " b " -}} c', "a b c"),
    ("{{/* comment */}}x", "x"),
    ("{{ `raw` }}", "raw"),
    ('{{ (printf "%s" "in") | upper }}', "IN"),
]


@pytest.mark.parametrize(("text", "expected"), RENDERINGS)
def test_rendering(text, expected):
    assert render(text, empty_var="") == expected


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for t, e in RENDERINGS if "{{" in t and " if " not in t]
)
def test_a_template_without_statements_renders_as_its_jinja2_translation(text, expected):
    """Such a template is evaluated without jinja2: the same string either way (R-TMPL-2)."""
    source, constants, outputs = _translate(text)
    assert outputs is not None
    names = {**HELPERS, "__root": source_variables(SOURCE, {"empty_var": ""}), "__c": constants}
    assert _environment().from_string(source).render(names) == expected


def test_only_a_template_with_statements_is_translated_for_jinja2():
    assert _translate("{{ .a }}:{{ .b | upper }}").outputs is not None
    for text in ("{{ if .a }}x{{ end }}", "{{ range .a }}x{{ end }}", "{{ $x := 1 }}{{ $x }}"):
        assert _translate(text).outputs is None


def test_user_variables():
    assert render(
        "{{ .mirror }}/{{ .module.image.src.reference.repository }}", mirror="hub.local:5000"
    ) == ("hub.local:5000/kubesphere/ks-apiserver")


@pytest.mark.parametrize(
    "text",
    [
        "{{ .module.image.src.reference.tagg }}",
        "{{ .nope }}",
        "{{ .module.image.src.reference.registry.deeper }}",
    ],
)
def test_undefined_variable_is_an_error_naming_it(text):
    with pytest.raises(TemplateError, match="undefined variable"):
        render(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .a | nosuchfunc }}", 'function "nosuchfunc" not defined'),
        ("{{ if .a }}x", "without {{end}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ('{{ "unterminated }}', "unexpected"),
        ("{{ with .a }}x{{ end }}", "not supported"),
    ],
)
def test_syntax_errors_are_reported_at_parse_time(text, message):
    with pytest.raises(TemplateError, match=message):
        DestinationTemplate(text)


def test_destination_without_tag_takes_the_source_tag():
    assert str(
        render_destination(
            DestinationTemplate("hub.local/{{ .module.image.src.reference.repository }}"), SOURCE
        )
    ) == ("hub.local/kubesphere/ks-apiserver:v4.1.3")


def test_digest_source_keeps_its_digest():
    source = parse_reference(f"quay.io/org/app@{DIGEST}")
    assert (
        str(render_destination(DestinationTemplate("hub.local/app"), source))
        == f"hub.local/app@{DIGEST}"
    )
    # the seed template puts the digest where a tag goes: that means "by digest"
    dest = render_destination(DestinationTemplate(SEED_DEST), source)
    assert str(dest) == f"hub.kubekey/org/app@{DIGEST}"


def test_rendered_destination_must_be_a_valid_reference():
    with pytest.raises(ReferenceError_, match="invalid tag"):
        render_destination(
            DestinationTemplate(
                'hub.local/{{ .module.image.src.reference.repository }}:{{ "a b" }}'
            ),
            SOURCE,
        )


def test_printf_verbs():
    assert render('{{ printf "%q|%d|%v|%5s|%-3s|" "a" 3 true "x" "y" }}') == '"a"|3|true|    x|y  |'


def test_else_if_branch():
    assert render("{{ if eq 1 2 }}a{{ else if eq 1 1 }}b{{ else }}c{{ end }}") == "b"
    assert render("{{ if eq 1 2 }}a{{ else if eq 1 3 }}b{{ else }}c{{ end }}") == "c"


def test_go_replacement_semantics():
    text = '{{ regexReplaceAll "(a)(b)" "xaby" "[$1x|${2}|$$|$9]" }}'
    assert render(text) == "x[|b|$|]y"  # $1x is group "1x": empty, as Go's Expand


def test_print_and_or_as_go():
    assert render('{{ print 1 2 "a" 3 }}') == "1 2a3"  # spaces only between non-strings
    assert render("{{ and 1 0 2 }}|{{ or 0 0 5 }}|{{ or 0 0 }}") == "0|5|0"
    with pytest.raises(TemplateError):
        render("{{ and }}")


# KubeKey >= v4.0.4's builtin roles, as they are written (download/tasks/images.yaml and
# image-registry/push/tasks/main.yaml, after YAML's folding).
PLATFORMS = (
    "{{- $platform := list }} {{- range .download.arch }} {{- $platform = append $platform "
    '(printf "linux/%s" .) }} {{- end }} {{- $platform | toJson }}\n'
)
PUSH_DEST = (
    '{{- if and (eq .module.image.reference.registry "registry.k8s.io") '
    '(.module.image.reference.repository | contains "/" | not) -}} '
    "oci://{{ .image_registry.auth.registry }}/kubernetes/{{ .module.image.reference.repository }}"
    ":{{ .module.image.src.reference.reference }} {{- else -}} "
    "oci://{{ .image_registry.auth.registry }}/{{ .module.image.reference.repository }}"
    ":{{ .module.image.reference.reference }} {{- end -}}"
)


def test_range_variables_list_append_and_tojson_render_the_builtin_platform_list():
    rendered = DestinationTemplate(PLATFORMS).render({"download": {"arch": ["amd64", "arm64"]}})
    assert rendered == '["linux/amd64","linux/arm64"]\n'
    assert DestinationTemplate(PLATFORMS).render({"download": {"arch": []}}) == "[]\n"


@pytest.mark.parametrize(
    ("registry", "repository", "expected"),
    [
        ("registry.k8s.io", "pause", "oci://hub.local/kubernetes/pause:3.9"),
        ("registry.k8s.io", "coredns/coredns", "oci://hub.local/coredns/coredns:3.9"),
        ("docker.io", "kubesphere/ks-apiserver", "oci://hub.local/kubesphere/ks-apiserver:3.9"),
    ],
)
def test_the_builtin_push_destination(registry, repository, expected):
    reference = {"registry": registry, "repository": repository, "reference": "3.9"}
    variables = {
        "image_registry": {"auth": {"registry": "hub.local"}},
        "module": {"image": {"reference": reference, "src": {"reference": reference}}},
    }
    assert DestinationTemplate(PUSH_DEST).render(variables) == expected


def test_range_rebinds_dot_and_dollar_is_the_data():
    template = DestinationTemplate("{{ range .items }}{{ .name }}-{{ $.sep }}{{ end }}")
    assert template.render({"items": [{"name": "a"}, {"name": "b"}], "sep": "/"}) == "a-/b-/"
    over_map = DestinationTemplate("{{ range $v := .m }}{{ $v }}{{ end }}")
    assert over_map.render({"m": {"b": 2, "a": 1}}) == "12"  # a map: values in key order


def test_tojson_is_gos_json_marshal():
    template = DestinationTemplate("{{ .x | toJson }}")
    assert template.render({"x": {"b": [1, "<&>"], "a": True}}) == (
        '{"a":true,"b":[1,"\\u003c\\u0026\\u003e"]}'
    )


def test_an_undeclared_variable_is_an_error():
    with pytest.raises(TemplateError, match=r"undefined variable \$nope"):
        DestinationTemplate("{{ $nope = list }}")
