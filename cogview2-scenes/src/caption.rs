//! Captions and the prompt parser.
//!
//! English: `a red circle at the top left on a white background`; with more objects
//! `a red circle at the top left and a blue square at the bottom on a white background`, and for three
//! `a red circle at the top left, a blue square at the bottom and an orange triangle on the left on a white background`.
//!
//! Chinese: one fixed phrasing, background first and each object as `<position>的<colour><shape>`:
//! `白色背景上左上角的红色圆形`; objects joined with `和` (two) or `、` then `和` (three):
//! `白色背景上左上角的红色圆形、下方的蓝色方形和左侧的橙色三角形`.

use serde::{Deserialize, Serialize};

use crate::palette::Colour;
use crate::position::Position;
use crate::scene::{Scene, SceneObject};
use crate::shape::Shape;

/// Caption language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    English,
    /// Simplified Chinese.
    Chinese,
}

/// What a prompt says about one object; `None` where it does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mention {
    /// Named colour.
    pub colour: Option<Colour>,
    /// Named shape.
    pub shape: Option<Shape>,
    /// Named grid cell.
    pub position: Option<Position>,
}

impl Mention {
    fn is_empty(&self) -> bool {
        self.colour.is_none() && self.shape.is_none() && self.position.is_none()
    }
}

/// What a parsed prompt names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prompt {
    /// Background colour, when the prompt names one (`on a white background`, `白色背景`).
    pub background: Option<Colour>,
    /// Objects in prompt order; mentions that name nothing are dropped.
    pub objects: Vec<Mention>,
}

/// What a caption says beyond each object's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaptionDetail {
    /// Each object's position (`at the top left`, `左上角的`).
    pub positions: bool,
    /// The background (`on a white background`, `白色背景上`).
    pub background: bool,
    /// Each object's colour (`red`, `红色`). Captions without it tie a shape word to an outline whatever its
    /// colour, which a model must learn to draw a colour–shape pair at a cell where it never saw that pair.
    pub colours: bool,
}

impl CaptionDetail {
    /// Everything: the captions of [`caption`].
    pub const FULL: Self = Self { positions: true, background: true, colours: true };
    /// Colour and shape only (`a red circle`, `红色圆形`).
    pub const OBJECTS_ONLY: Self = Self { positions: false, background: false, colours: true };
}

/// The caption of `scene` in `language` (see the module docs for the phrasing).
pub fn caption(scene: &Scene, language: Language) -> String {
    caption_with(scene, language, CaptionDetail::FULL)
}

/// The caption of `scene` saying only what `detail` asks for: `a red circle on a white background`, `a red circle
/// at the top left`, `a red circle`; `白色背景上的红色圆形`, `左上角的红色圆形`, `红色圆形`. A model trained on such
/// captions can draw a prompt that leaves the position or background open, choosing them itself.
pub fn caption_with(scene: &Scene, language: Language, detail: CaptionDetail) -> String {
    match language {
        Language::English => english(scene, detail),
        Language::Chinese => chinese(scene, detail),
    }
}

fn article(colour: Colour) -> &'static str {
    if colour == Colour::Orange {
        "an"
    } else {
        "a"
    }
}

fn english(scene: &Scene, detail: CaptionDetail) -> String {
    let parts: Vec<String> = scene
        .objects
        .iter()
        .map(|o: &SceneObject| {
            let object = if detail.colours {
                format!("{} {} {}", article(o.colour), o.colour.english(), o.shape.english())
            } else {
                format!("a {}", o.shape.english())
            };
            if detail.positions {
                format!("{object} {}", o.position.english_phrase())
            } else {
                object
            }
        })
        .collect();
    let objects = join(&parts, ", ", " and ");
    if detail.background {
        format!("{objects} on {} {} background", article(scene.background), scene.background.english())
    } else {
        objects
    }
}

fn chinese(scene: &Scene, detail: CaptionDetail) -> String {
    let parts: Vec<String> = scene
        .objects
        .iter()
        .map(|o| {
            let object = if detail.colours {
                format!("{}{}", o.colour.chinese(), o.shape.chinese())
            } else {
                o.shape.chinese().to_string()
            };
            if detail.positions {
                format!("{}的{object}", o.position.chinese())
            } else {
                object
            }
        })
        .collect();
    let objects = join(&parts, "、", "和");
    match (detail.background, detail.positions) {
        (false, _) => objects,
        (true, true) => format!("{}背景上{objects}", scene.background.chinese()),
        // Without a position the object needs 的 to attach to the background phrase.
        (true, false) => format!("{}背景上的{objects}", scene.background.chinese()),
    }
}

/// `a`, `a and b`, `a<sep>b and c`.
fn join(parts: &[String], sep: &str, last: &str) -> String {
    match parts {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., tail] => format!("{}{last}{tail}", init.join(sep)),
    }
}

/// Every word the captions of `language` use (English words; Chinese words as a segmenter should keep them),
/// for building a closed-domain tokenizer vocabulary.
pub fn lexicon(language: Language) -> Vec<&'static str> {
    let mut words = Vec::new();
    match language {
        Language::English => {
            words.extend(["a", "an", "on", "and", "background"]);
            words.extend(["at", "the", "in"]);
            words.extend(Colour::ALL.map(Colour::english));
            words.extend(Shape::ALL.map(Shape::english));
            words.extend(["top", "bottom", "left", "right", "center"]);
        }
        Language::Chinese => {
            words.extend(["背景", "上", "的", "和", "、"]);
            words.extend(Colour::ALL.map(Colour::chinese));
            words.extend(Shape::ALL.map(Shape::chinese));
            words.extend(Position::ALL.map(Position::chinese));
        }
    }
    words
}

/// Reads colours, shapes, positions and the background out of an English or Chinese prompt. Unknown words are
/// ignored, so free-form prompts ("a big red circle near the top") still yield what they name.
pub fn parse_prompt(text: &str) -> Prompt {
    if text.chars().any(is_cjk) {
        parse_chinese(text)
    } else {
        parse_english(text)
    }
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn english_colour(word: &str) -> Option<Colour> {
    Colour::ALL.into_iter().find(|c| c.english() == word)
}

fn english_shape(word: &str) -> Option<Shape> {
    match word {
        "circle" | "circles" | "disc" | "disk" | "round" => Some(Shape::Circle),
        "square" | "squares" | "box" => Some(Shape::Square),
        "triangle" | "triangles" | "triangular" => Some(Shape::Triangle),
        _ => None,
    }
}

/// Grid row and column named by a position word (`None` for the axis it does not name).
fn english_axis(word: &str) -> Option<(Option<usize>, Option<usize>)> {
    match word {
        "top" | "upper" => Some((Some(0), None)),
        "bottom" | "lower" => Some((Some(2), None)),
        "left" => Some((None, Some(0))),
        "right" => Some((None, Some(2))),
        "center" | "centre" | "middle" => Some((None, None)),
        _ => None,
    }
}

fn parse_english(text: &str) -> Prompt {
    let lower = text.to_lowercase();
    let spaced = lower.replace([',', ';', '.'], " , ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let mut consumed = vec![false; words.len()];
    let mut prompt = Prompt::default();
    for i in 1..words.len() {
        if words[i] == "background" {
            if let Some(colour) = english_colour(words[i - 1]) {
                prompt.background = Some(colour);
                consumed[i - 1] = true;
            }
            consumed[i] = true;
        }
    }
    let mut mention = Mention::default();
    let mut cell: Option<(Option<usize>, Option<usize>)> = None;
    let mut flush = |mention: &mut Mention, cell: &mut Option<(Option<usize>, Option<usize>)>| {
        if let Some((row, column)) = cell.take() {
            mention.position = Position::from_cell(row.unwrap_or(1), column.unwrap_or(1));
        }
        if !mention.is_empty() {
            prompt.objects.push(*mention);
        }
        *mention = Mention::default();
    };
    for (word, &used) in words.iter().zip(&consumed) {
        if used {
            continue;
        }
        if *word == "and" || *word == "," {
            flush(&mut mention, &mut cell);
            continue;
        }
        if let Some(colour) = english_colour(word) {
            mention.colour.get_or_insert(colour);
        } else if let Some(shape) = english_shape(word) {
            mention.shape.get_or_insert(shape);
        } else if let Some((row, column)) = english_axis(word) {
            let (r, c) = cell.get_or_insert((None, None));
            *r = r.or(row);
            *c = c.or(column);
        }
    }
    flush(&mut mention, &mut cell);
    prompt
}

/// Chinese position names, longest first so that `左上角` wins over a shorter name inside it.
fn chinese_positions() -> Vec<(&'static str, Position)> {
    let mut names: Vec<(&'static str, Position)> = Position::ALL
        .into_iter()
        .map(|p| (p.chinese(), p))
        .collect();
    names.extend([
        ("中间", Position::Center),
        ("中心", Position::Center),
        ("左边", Position::Left),
        ("右边", Position::Right),
        ("上面", Position::Top),
        ("下面", Position::Bottom),
    ]);
    names.sort_by_key(|(name, _)| std::cmp::Reverse(name.chars().count()));
    names
}

fn chinese_colour(segment: &str) -> Option<(usize, Colour)> {
    Colour::ALL
        .into_iter()
        .filter_map(|c| {
            // The first character alone names the colour (`红` in `红色`, `红圆`).
            let key = c.chinese().chars().next()?;
            segment.find(key).map(|at| (at, c))
        })
        .min_by_key(|&(at, _)| at)
}

fn chinese_shape(segment: &str) -> Option<Shape> {
    [
        ("三角", Shape::Triangle),
        ("方", Shape::Square),
        ("圆", Shape::Circle),
    ]
    .into_iter()
    .filter_map(|(key, shape)| segment.find(key).map(|at| (at, shape)))
    .min_by_key(|&(at, _)| at)
    .map(|(_, shape)| shape)
}

fn parse_chinese(text: &str) -> Prompt {
    let mut prompt = Prompt::default();
    let mut rest = text.to_string();
    if let Some(at) = rest.find("背景") {
        let before = &rest[..at];
        if let Some(colour) = Colour::ALL
            .into_iter()
            .find(|c| before.ends_with(c.chinese()))
        {
            prompt.background = Some(colour);
            let start = at - colour.chinese().len();
            let mut end = at + "背景".len();
            // `背景上` / `背景中` is part of the background phrase, not a position (but `背景中央` is).
            let after = &rest[end..];
            let is_position = chinese_positions()
                .iter()
                .any(|(name, _)| after.starts_with(name));
            if !is_position && (after.starts_with('上') || after.starts_with('中')) {
                end += '上'.len_utf8();
            }
            rest.replace_range(start..end, " ");
        }
    }
    let positions = chinese_positions();
    for segment in rest.split(['和', '、', '，', ',', '；', '。']) {
        let mut segment = segment.to_string();
        let mut mention = Mention::default();
        if let Some((name, position)) = positions.iter().find(|(name, _)| segment.contains(name)) {
            mention.position = Some(*position);
            // Remove it so `方` in `上方` is not read as a square.
            segment = segment.replacen(name, " ", 1);
        }
        mention.colour = chinese_colour(&segment).map(|(_, c)| c);
        mention.shape = chinese_shape(&segment);
        if !mention.is_empty() {
            prompt.objects.push(mention);
        }
    }
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(objects: &[(Colour, Shape, Position)]) -> Scene {
        Scene {
            background: Colour::White,
            objects: objects
                .iter()
                .map(|&(colour, shape, position)| SceneObject {
                    colour,
                    shape,
                    position,
                    scale: 0.6,
                    offset: [0.0, 0.0],
                })
                .collect(),
        }
    }

    #[test]
    fn documented_phrasings() {
        let one = scene(&[(Colour::Red, Shape::Circle, Position::TopLeft)]);
        assert_eq!(
            caption(&one, Language::English),
            "a red circle at the top left on a white background"
        );
        assert_eq!(
            caption(&one, Language::Chinese),
            "白色背景上左上角的红色圆形"
        );
        let two = scene(&[
            (Colour::Red, Shape::Circle, Position::TopLeft),
            (Colour::Blue, Shape::Square, Position::Bottom),
        ]);
        assert_eq!(
            caption(&two, Language::English),
            "a red circle at the top left and a blue square at the bottom on a white background"
        );
        assert_eq!(
            caption(&two, Language::Chinese),
            "白色背景上左上角的红色圆形和下方的蓝色方形"
        );
    }

    #[test]
    fn partial_captions_say_only_what_is_asked_and_parse_back() {
        let one = scene(&[(Colour::Red, Shape::Circle, Position::TopLeft)]);
        let no_position = CaptionDetail { positions: false, ..CaptionDetail::FULL };
        let no_background = CaptionDetail { background: false, ..CaptionDetail::FULL };
        let no_colour = CaptionDetail { colours: false, ..CaptionDetail::FULL };
        let cases = [
            (no_position, "a red circle on a white background", "白色背景上的红色圆形"),
            (no_background, "a red circle at the top left", "左上角的红色圆形"),
            (CaptionDetail::OBJECTS_ONLY, "a red circle", "红色圆形"),
            (no_colour, "a circle at the top left on a white background", "白色背景上左上角的圆形"),
        ];
        for (detail, english, chinese) in cases {
            assert_eq!(caption_with(&one, Language::English, detail), english);
            assert_eq!(caption_with(&one, Language::Chinese, detail), chinese);
            for text in [english, chinese] {
                let parsed = parse_prompt(text);
                assert_eq!(parsed.background.is_some(), detail.background, "{text}");
                let mention = parsed.objects[0];
                assert_eq!(mention.colour, detail.colours.then_some(Colour::Red), "{text}");
                assert_eq!(mention.shape, Some(Shape::Circle), "{text}");
                assert_eq!(mention.position.is_some(), detail.positions, "{text}");
            }
        }
        assert_eq!(caption_with(&one, Language::English, CaptionDetail::FULL), caption(&one, Language::English));
    }

    #[test]
    fn partial_prompts() {
        let p = parse_prompt("a red circle");
        assert_eq!(p.background, None);
        assert_eq!(
            p.objects,
            vec![Mention {
                colour: Some(Colour::Red),
                shape: Some(Shape::Circle),
                position: None
            }]
        );
        let p = parse_prompt("A Blue triangle in the upper right corner.");
        assert_eq!(p.objects[0].position, Some(Position::TopRight));
        assert_eq!(p.objects[0].colour, Some(Colour::Blue));
        let p = parse_prompt("一个在上方的黄色方形");
        assert_eq!(
            p.objects,
            vec![Mention {
                colour: Some(Colour::Yellow),
                shape: Some(Shape::Square),
                position: Some(Position::Top)
            }]
        );
        let p = parse_prompt("黑色背景中央的白色圆形");
        assert_eq!(p.objects[0].position, Some(Position::Center));
        let p = parse_prompt("黑色背景上方的白色圆形");
        assert_eq!(p.objects[0].position, Some(Position::Top));
        assert_eq!(parse_prompt("黑色背景").background, Some(Colour::Black));
        assert!(parse_prompt("黑色背景").objects.is_empty());
    }
}
