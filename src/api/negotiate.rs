//! Which format of a thumbnail a request is sent: the one its `Accept`
//! header prefers (RFC 9110 §12.5.1) among those made.
//!
//! A format's weight is that of the most specific media range that matches
//! it (`image/webp` before `image/*` before `*/*`). Of those with the
//! highest weight, one the client names outright beats one it takes by a
//! wildcard, and of those it names, the first it lists wins: browsers list
//! the formats they want (`image/avif,image/webp,…,image/*,*/*;q=0.8`),
//! while `*/*` (curl's default) and `image/*` say nothing about which, so
//! they get JPEG, which every client reads. So does a request that accepts
//! none of those made.

use actix_web::{
    http::header::{Accept, Quality},
    mime,
};

use crate::imaging::Format;

/// How well a request takes one format: its weight, whether the client
/// named it, and (for a named one) how early it listed it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    quality: Quality,
    named: bool,
    listed_before: std::cmp::Reverse<usize>,
}

/// The format of `made` that `accept` (absent or unreadable: `None`)
/// prefers; JPEG when it accepts none of them.
pub fn choose(accept: Option<&Accept>, made: &[Format]) -> Format {
    let Some(accept) = accept else { return Format::Jpeg };
    let mut formats = made.to_vec();
    // On a tie, the earlier format (JPEG first) is kept.
    formats.sort_unstable();
    formats
        .into_iter()
        .filter_map(|format| rank(accept, format).map(|rank| (rank, format)))
        .filter(|(rank, _)| rank.quality > Quality::ZERO)
        .fold(None::<(Rank, Format)>, |best, next| match best {
            Some(best) if best.0 >= next.0 => Some(best),
            _ => Some(next),
        })
        .map_or(Format::Jpeg, |(_, format)| format)
}

/// How `accept` takes `format`, by its most specific matching range; `None`
/// when no range matches.
fn rank(accept: &Accept, format: Format) -> Option<Rank> {
    let mime: mime::Mime = format.mime().parse().ok()?;
    let specificity = |range: &mime::Mime| {
        if range.type_() == mime::STAR && range.subtype() == mime::STAR {
            Some(0)
        } else if range.type_() != mime.type_() {
            None
        } else if range.subtype() == mime::STAR {
            Some(1)
        } else if range.subtype() == mime.subtype() {
            Some(2)
        } else {
            None
        }
    };
    let (position, specific, item) = accept
        .iter()
        .enumerate()
        .filter_map(|(position, item)| Some((position, specificity(&item.item)?, item)))
        .max_by_key(|(position, specific, _)| (*specific, std::cmp::Reverse(*position)))?;
    let named = specific == 2;
    Some(Rank {
        quality: item.quality,
        named,
        listed_before: std::cmp::Reverse(if named { position } else { usize::MAX }),
    })
}

#[cfg(test)]
mod tests {
    use actix_web::{http::header::Header, test::TestRequest};

    use super::*;

    const CHROMIUM: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    const ALL: [Format; 2] = [Format::Jpeg, Format::Webp];

    fn chosen(accept: &str, made: &[Format]) -> Format {
        let req = TestRequest::default().insert_header(("accept", accept)).to_http_request();
        choose(Accept::parse(&req).ok().as_ref(), made)
    }

    #[test]
    fn browsers_get_the_format_they_name_first() {
        assert_eq!(chosen(CHROMIUM, &ALL), Format::Webp);
        assert_eq!(chosen("image/webp,*/*", &ALL), Format::Webp, "Firefox's");
        assert_eq!(chosen(CHROMIUM, &[Format::Jpeg]), Format::Jpeg, "only what was made");
    }

    #[test]
    fn wildcards_and_strangers_get_jpeg() {
        for accept in ["*/*", "image/*", "image/png", "text/html", "image/*;q=0.5, */*", "", "not a media type"] {
            assert_eq!(chosen(accept, &ALL), Format::Jpeg, "{accept:?}");
        }
        assert_eq!(choose(None, &ALL), Format::Jpeg, "no Accept at all");
    }

    #[test]
    fn weights_are_honoured() {
        assert_eq!(chosen("image/webp;q=0.5, image/jpeg", &ALL), Format::Jpeg);
        assert_eq!(chosen("image/webp;q=0.5, */*;q=0.1", &ALL), Format::Webp);
        assert_eq!(chosen("image/webp;q=0, */*", &ALL), Format::Jpeg, "q=0 refuses it");
        assert_eq!(chosen("image/jpeg;q=0, image/webp;q=0.2", &ALL), Format::Webp);
        assert_eq!(chosen("image/jpeg;q=0", &ALL), Format::Jpeg, "nothing acceptable: JPEG");
        assert_eq!(chosen("image/*;q=0.9, image/webp", &ALL), Format::Webp);
        assert_eq!(chosen("image/webp, image/jpeg", &ALL), Format::Webp, "the first named");
        assert_eq!(chosen("image/jpeg, image/webp", &ALL), Format::Jpeg, "the first named");
    }
}
