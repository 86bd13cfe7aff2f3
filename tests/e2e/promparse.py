"""A strict parser of the Prometheus text exposition format, version 0.0.4.

Stricter than Prometheus itself where the format leaves room for sloppiness:
every error raises PromParseError naming the line. Checked:
  - the body is UTF-8 and ends with a newline; no carriage returns;
  - "# HELP" and "# TYPE" at most once per family, TYPE before its samples,
    HELP text and label values use only the escapes \\\\, \\n (and \\" in values);
  - metric and label names match the grammar, no label twice, no reserved
    "__" label names;
  - the samples of a family are contiguous (a family never comes back);
  - no series (name + label set) appears twice;
  - values parse as floats (NaN, +Inf, -Inf allowed); timestamps as integers;
  - counters are >= 0 and not NaN; gauges may be anything;
  - histograms: only _bucket/_sum/_count samples, every bucket has le, per
    label set the le values strictly increase, end with +Inf, the counts are
    cumulative (non-decreasing) and the +Inf bucket equals _count; _sum and
    _count are present.

parse(text) -> {family name: Family}; Family has .type, .help and .samples
(a list of Sample(name, labels dict, value)).

stdlib only.
"""

import math
import re

METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromParseError(ValueError):
    pass


class Sample:
    __slots__ = ("name", "labels", "value", "timestamp")

    def __init__(self, name, labels, value, timestamp=None):
        self.name, self.labels, self.value, self.timestamp = name, labels, value, timestamp

    def __repr__(self):
        return "Sample(%s%r %r)" % (self.name, self.labels, self.value)


class Family:
    def __init__(self, name):
        self.name = name
        self.type = None
        self.help = None
        self.samples = []

    def __repr__(self):
        return "Family(%s %s, %d samples)" % (self.name, self.type, len(self.samples))

    def get(self, sample_name=None, **labels):
        """The value of the one sample with these labels (exactly), else None."""
        sample_name = sample_name or self.name
        for s in self.samples:
            if s.name == sample_name and s.labels == labels:
                return s.value
        return None

    def select(self, sample_name=None, **labels):
        """Samples whose labels include these."""
        sample_name = sample_name or self.name
        return [s for s in self.samples
                if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())]


def _unescape(s, lineno, allow_quote):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise PromParseError("line %d: dangling backslash" % lineno)
            n = s[i + 1]
            if n == "\\":
                out.append("\\")
            elif n == "n":
                out.append("\n")
            elif n == '"' and allow_quote:
                out.append('"')
            else:
                raise PromParseError("line %d: bad escape \\%s" % (lineno, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _parse_float(s, lineno):
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf}[s]
    if not FLOAT_RE.fullmatch(s):
        raise PromParseError("line %d: bad value %r" % (lineno, s))
    return float(s)


def _parse_labels(line, pos, lineno):
    """line[pos] == '{'; returns (labels dict, position after '}')."""
    labels = {}
    pos += 1
    if pos < len(line) and line[pos] == "}":
        return labels, pos + 1
    while True:
        m = LABEL_RE.match(line, pos)
        if not m:
            raise PromParseError("line %d: bad label name at column %d" % (lineno, pos + 1))
        name = m.group(0)
        if name.startswith("__"):
            raise PromParseError("line %d: reserved label name %s" % (lineno, name))
        if name in labels:
            raise PromParseError("line %d: label %s twice" % (lineno, name))
        pos = m.end()
        if line[pos:pos + 2] != '="':
            raise PromParseError("line %d: expected =\" after label %s" % (lineno, name))
        pos += 2
        start = pos
        while True:
            if pos >= len(line):
                raise PromParseError("line %d: unterminated label value" % lineno)
            if line[pos] == "\\":
                pos += 2
                continue
            if line[pos] == '"':
                break
            pos += 1
        labels[name] = _unescape(line[start:pos], lineno, True)
        pos += 1
        if pos < len(line) and line[pos] == ",":
            pos += 1
            if pos < len(line) and line[pos] == "}":  # a trailing comma
                return labels, pos + 1
            continue
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        raise PromParseError("line %d: expected , or } after a label value" % lineno)


def _family_of(name, families):
    """The family a sample name belongs to: itself, or for histogram and
    summary suffixes the declared base family."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            f = families.get(base)
            if f is not None and f.type in ("histogram", "summary"):
                return base
    return name


def parse(text):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PromParseError("not UTF-8: %s" % e)
    if not text:
        return {}
    if not text.endswith("\n"):
        raise PromParseError("the exposition does not end with a newline")
    if "\r" in text:
        raise PromParseError("carriage return in the exposition")
    families = {}
    closed = set()  # families whose samples are over
    current = None
    series = set()
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                kind, name = parts[1], parts[2]
                if not METRIC_RE.fullmatch(name):
                    raise PromParseError("line %d: bad metric name %r" % (lineno, name))
                f = families.get(name)
                if name in closed or (f is not None and f.samples):
                    raise PromParseError("line %d: %s of %s after its samples" % (lineno, kind, name))
                if f is None:
                    f = families[name] = Family(name)
                if current is not None and current != name:
                    closed.add(current)
                current = name
                rest = parts[3] if len(parts) > 3 else ""
                if kind == "HELP":
                    if f.help is not None:
                        raise PromParseError("line %d: second HELP for %s" % (lineno, name))
                    f.help = _unescape(rest, lineno, False)
                else:
                    if f.type is not None:
                        raise PromParseError("line %d: second TYPE for %s" % (lineno, name))
                    if rest not in TYPES:
                        raise PromParseError("line %d: unknown type %r" % (lineno, rest))
                    f.type = rest
            continue  # other comments are allowed
        m = METRIC_RE.match(line)
        if not m:
            raise PromParseError("line %d: bad sample name: %r" % (lineno, line))
        name = m.group(0)
        pos = m.end()
        labels = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = _parse_labels(line, pos, lineno)
        if pos >= len(line) or line[pos] != " ":
            raise PromParseError("line %d: expected a space before the value" % lineno)
        fields = line[pos + 1:].split(" ")
        if not 1 <= len(fields) <= 2 or not fields[0]:
            raise PromParseError("line %d: expected VALUE [TIMESTAMP]: %r" % (lineno, line))
        value = _parse_float(fields[0], lineno)
        ts = None
        if len(fields) == 2:
            if not re.fullmatch(r"-?\d+", fields[1]):
                raise PromParseError("line %d: bad timestamp %r" % (lineno, fields[1]))
            ts = int(fields[1])
        fam = _family_of(name, families)
        if fam in closed:
            raise PromParseError("line %d: samples of %s are not contiguous" % (lineno, fam))
        if current is not None and current != fam:
            closed.add(current)
        current = fam
        f = families.get(fam)
        if f is None:
            f = families[fam] = Family(fam)
            f.type = "untyped"
        if f.type is None:
            f.type = "untyped"
        if f.type in ("counter", "gauge", "untyped") and name != fam:
            raise PromParseError("line %d: sample %s in %s family %s" % (lineno, name, f.type, fam))
        if f.type == "histogram" and name == fam:
            raise PromParseError("line %d: bare sample %s in histogram" % (lineno, name))
        if f.type == "counter" and (math.isnan(value) or value < 0):
            raise PromParseError("line %d: counter %s is %r" % (lineno, name, value))
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise PromParseError("line %d: series %s%r twice" % (lineno, name, labels))
        series.add(key)
        f.samples.append(Sample(name, labels, value, ts))
    for f in families.values():
        if f.type == "histogram":
            _check_histogram(f)
    return families


def _check_histogram(f):
    groups = {}
    for s in f.samples:
        base = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        g = groups.setdefault(base, {"buckets": [], "sum": None, "count": None})
        if s.name == f.name + "_bucket":
            if "le" not in s.labels:
                raise PromParseError("%s: bucket without le %r" % (f.name, s.labels))
            g["buckets"].append((_parse_float(s.labels["le"], 0), s.value))
        elif "le" in s.labels:
            raise PromParseError("%s: le on %s" % (f.name, s.name))
        elif s.name == f.name + "_sum":
            g["sum"] = s.value
        elif s.name == f.name + "_count":
            g["count"] = s.value
    for base, g in groups.items():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise PromParseError("%s%r: no +Inf bucket last" % (f.name, dict(base)))
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if not le1 < le2:
                raise PromParseError("%s%r: le not increasing (%r, %r)" % (f.name, dict(base), le1, le2))
            if c2 < c1:
                raise PromParseError("%s%r: buckets not cumulative at le=%r" % (f.name, dict(base), le2))
        if g["count"] is None or g["sum"] is None:
            raise PromParseError("%s%r: _sum or _count missing" % (f.name, dict(base)))
        if b[-1][1] != g["count"]:
            raise PromParseError("%s%r: +Inf bucket %r != _count %r" % (f.name, dict(base), b[-1][1], g["count"]))


def histogram(family, **labels):
    """{"buckets": [(le, cumulative count)], "sum", "count"} of one histogram."""
    out = {"buckets": [], "sum": None, "count": None}
    for s in family.samples:
        rest = {k: v for k, v in s.labels.items() if k != "le"}
        if rest != labels:
            continue
        if s.name.endswith("_bucket"):
            out["buckets"].append((_parse_float(s.labels["le"], 0), s.value))
        elif s.name.endswith("_sum"):
            out["sum"] = s.value
        elif s.name.endswith("_count"):
            out["count"] = s.value
    return out
