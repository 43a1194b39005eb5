//! The part of ci.toml a problem's snippet shows, with long lines cut down to a window around the
//! problem. miette renders a line whole and pads its carets with a format width, which panics past
//! column 65,535 ("Formatting argument out of range"); a line of 70 KB is no use on a terminal
//! either. So every line the snippet shows that is longer than [`LONG_LINE`] bytes is cut to a
//! window around what it points at, `…` where text was left out; lines keep their numbers, and the
//! `file:line:col` miette prints is the column in the file as written.

use std::ops::Range;
use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// A line longer than this (in bytes) is shown as a window of it.
pub const LONG_LINE: usize = 200;
/// How much of a long line is shown before what the problem points at.
const BEFORE: usize = 60;
const ELLIPSIS: &str = "…";

/// The source a problem's snippet reads: ci.toml as written, or a copy with long lines cut.
#[derive(Debug, Clone)]
pub struct Snippet {
    name: String,
    text: Arc<String>,
    /// For each line whose start was cut: its start in `text` and how many bytes of the line as
    /// written come before the first byte shown, less the ellipsis (what to add to a column).
    shifts: Vec<(usize, usize)>,
}

/// One cut line: the line as written (`line`) and the part of it shown (`shown`).
struct Cut {
    line: Range<usize>,
    shown: Range<usize>,
}

impl Snippet {
    /// The snippet of `text` for labels at `spans` (byte ranges of `text`), and the spans as
    /// they fall in the snippet. Without a long line in view, `text` itself (no copy).
    pub fn new(
        name: &str,
        text: &Arc<String>,
        spans: &[Range<usize>],
    ) -> (Snippet, Vec<Range<usize>>) {
        let whole = |spans: &[Range<usize>]| {
            (
                Snippet {
                    name: name.to_string(),
                    text: text.clone(),
                    shifts: Vec::new(),
                },
                spans.to_vec(),
            )
        };
        let s = text.as_str();
        let clamp = |o: usize| floor_boundary(s, o.min(s.len()));
        let spans: Vec<Range<usize>> = spans
            .iter()
            .map(|r| clamp(r.start)..clamp(r.end.max(r.start)))
            .collect();
        let (Some(first), Some(last)) = (
            spans.iter().map(|r| r.start).min(),
            spans.iter().map(|r| r.end).max(),
        ) else {
            return whole(&spans);
        };
        // The lines miette shows: those the labels touch, and one each side.
        let mut from = line_start(s, first);
        if from > 0 {
            from = line_start(s, from - 1);
        }
        let mut to = line_end(s, last);
        if to < s.len() {
            to = line_end(s, to + 1);
        }
        let mut cuts = Vec::new();
        let mut start = from;
        while start <= to {
            let end = line_end(s, start);
            if end - start > LONG_LINE {
                cuts.push(Cut {
                    line: start..end,
                    shown: window(s, start..end, &spans),
                });
            }
            if end >= s.len() {
                break;
            }
            start = end + 1;
        }
        if cuts.is_empty() {
            return whole(&spans);
        }
        let mut out = String::with_capacity(s.len().min(1 << 20));
        let mut shifts = Vec::with_capacity(cuts.len());
        let mut copied = 0;
        for cut in &cuts {
            out.push_str(&s[copied..cut.line.start]);
            let line_start = out.len();
            if cut.shown.start > cut.line.start {
                out.push_str(ELLIPSIS);
                shifts.push((
                    line_start,
                    cut.shown.start - cut.line.start - ELLIPSIS.len(),
                ));
            }
            out.push_str(&s[cut.shown.clone()]);
            if cut.shown.end < cut.line.end {
                out.push_str(ELLIPSIS);
            }
            copied = cut.line.end;
        }
        out.push_str(&s[copied..]);
        let map = |o: usize| map_offset(&cuts, o);
        let spans = spans.iter().map(|r| map(r.start)..map(r.end)).collect();
        (
            Snippet {
                name: name.to_string(),
                text: Arc::new(out),
                shifts,
            },
            spans,
        )
    }
}

/// Where an offset of the text as written falls in the cut text: inside a window, at its place;
/// in a part left out, at the nearest edge of the window.
fn map_offset(cuts: &[Cut], offset: usize) -> usize {
    let mut removed = 0usize;
    for cut in cuts {
        if offset < cut.line.start {
            break;
        }
        let lead = if cut.shown.start > cut.line.start {
            ELLIPSIS.len()
        } else {
            0
        };
        let tail = if cut.shown.end < cut.line.end {
            ELLIPSIS.len()
        } else {
            0
        };
        let new_start = cut.line.start - removed;
        if offset <= cut.line.end {
            let inner = offset.clamp(cut.shown.start, cut.shown.end) - cut.shown.start;
            let at = new_start + lead + inner;
            // A span's end past the window ends after the ellipsis; one at the line's end stays
            // there.
            return if offset > cut.shown.end {
                at + tail
            } else {
                at
            };
        }
        let new_len = lead + (cut.shown.end - cut.shown.start) + tail;
        removed += (cut.line.end - cut.line.start) - new_len;
    }
    offset - removed
}

/// The part of the line `line` to show: from a little before the first label that starts on it
/// (else from its start), at most [`LONG_LINE`] bytes, on character boundaries.
fn window(s: &str, line: Range<usize>, spans: &[Range<usize>]) -> Range<usize> {
    let anchor = spans
        .iter()
        .map(|r| r.start)
        .filter(|o| line.contains(o) || *o == line.end)
        .min();
    let start = match anchor {
        Some(a) if a - line.start > BEFORE => floor_boundary(s, a - BEFORE),
        _ => line.start,
    };
    let end = ceil_boundary(s, (start + LONG_LINE).min(line.end));
    start..end
}

fn line_start(s: &str, offset: usize) -> usize {
    s.as_bytes()[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// The end of the line holding `offset` (the offset of its `\n`, or the end of the text).
fn line_end(s: &str, offset: usize) -> usize {
    s.as_bytes()[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(s.len(), |i| offset + i)
}

fn floor_boundary(s: &str, mut o: usize) -> usize {
    while !s.is_char_boundary(o) {
        o -= 1;
    }
    o
}

fn ceil_boundary(s: &str, mut o: usize) -> usize {
    while !s.is_char_boundary(o) {
        o += 1;
    }
    o
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents =
            self.text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        let mut column = contents.column();
        if column > 0 && !self.shifts.is_empty() {
            // Data that starts inside a cut line: its column in the line as written.
            let start = line_start(&self.text, contents.span().offset().min(self.text.len()));
            if let Some((_, shift)) = self.shifts.iter().find(|(at, _)| *at == start) {
                column += shift;
            }
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            column,
            contents.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(text: &str, span: Range<usize>) -> (String, Vec<Range<usize>>) {
        let spans = std::slice::from_ref(&span);
        let (s, spans) = Snippet::new("ci.toml", &Arc::new(text.to_string()), spans);
        (s.text.to_string(), spans)
    }

    #[test]
    fn short_lines_are_shown_as_written() {
        let text = "a = 1\nb = 2\n";
        let (shown, spans) = snippet(text, 6..7);
        assert_eq!(shown, text);
        assert_eq!(spans, vec![6..7]);
    }

    #[test]
    fn a_long_line_is_cut_around_the_label_and_the_column_is_the_one_written() {
        let long = format!("x = \"{}\" y", "a".repeat(70_000));
        let text = format!("[project]\n{long}\nz = 1\n");
        let at = text.find(" y").unwrap() + 1;
        let (s, spans) = Snippet::new(
            "ci.toml",
            &Arc::new(text.clone()),
            std::slice::from_ref(&(at..at + 1)),
        );
        assert!(s.text.len() < 400, "{} bytes", s.text.len());
        assert!(s.text.starts_with("[project]\n…"));
        assert!(s.text.ends_with("\" y\nz = 1\n"));
        assert_eq!(&s.text[spans[0].clone()], "y");
        let contents = s.read_span(&(spans[0].start, 1).into(), 0, 0).unwrap();
        assert_eq!(contents.line(), 1);
        assert_eq!(contents.column(), long.find(" y").unwrap() + 1);
    }

    #[test]
    fn a_long_line_nearby_is_cut_from_its_start_and_offsets_after_it_move() {
        let text = format!("x = \"{}\"\ny = [\n", "é".repeat(500));
        let at = text.find("[").unwrap();
        let (shown, spans) = snippet(&text, at..at + 1);
        assert!(shown.starts_with("x = \"é"));
        assert!(shown.contains("…\ny = ["));
        assert_eq!(&shown[spans[0].clone()], "[");
    }
}
