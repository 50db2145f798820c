//! What phones upload: HEIC (a grid of HEVC tiles, turned upright by its
//! `irot`, as iPhones write it) and AVIF, through the API to upright
//! thumbnails; and hostile ones, which fail with a reason and leave only
//! the original behind.

use crate::common::{
    self,
    heif::{Codec, Layout, QUADRANTS, heif, heif_of},
    settings, spawn,
};

use image::RgbImage;
use imaged::imaging::stages::fit;

/// The colours at the four corners of a thumbnail, top left, top right,
/// bottom left, bottom right, each as the nearest of the tile's quadrants.
fn corners(image: &RgbImage) -> [usize; 4] {
    let (w, h) = (image.width() - 3, image.height() - 3);
    [(2, 2), (w, 2), (2, h), (w, h)].map(|(x, y)| {
        let pixel = image.get_pixel(x, y).0;
        let distance =
            |q: &[u8; 3]| q.iter().zip(pixel).map(|(a, b)| (i32::from(*a) - i32::from(b)).abs()).sum::<i32>();
        (0..4).min_by_key(|&q| distance(&QUADRANTS[q])).unwrap()
    })
}

async fn thumbnail(app: &common::TestApp, id: i64, size: u32) -> RgbImage {
    let response = app.get(&format!("/api/image/{id}/thumbnail/{size}?format=jpeg")).await;
    assert_eq!(response.status(), 200);
    image::load_from_memory(&response.bytes().await.unwrap()).unwrap().to_rgb8()
}

#[actix_web::test]
async fn heic_and_avif_photos_end_done_with_upright_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    // A 2 × 2 grid of 160 × 120 tiles turned a quarter anticlockwise, as a
    // phone held upright writes it; an AVIF as it is, and one turned half.
    let turned = Layout { rows: 2, columns: 2, irot: 1, ..Layout::PLAIN };
    let cases = [
        ("portrait.heic", heif(Codec::Hevc, 160, 120, turned), (240, 320), [1, 3, 0, 2]),
        ("plain.avif", heif(Codec::Av1, 160, 120, Layout::PLAIN), (160, 120), [0, 1, 2, 3]),
        ("upside-down.avif", heif(Codec::Av1, 160, 120, Layout { irot: 2, ..Layout::PLAIN }), (160, 120), [3, 2, 1, 0]),
    ];
    for (name, bytes, (width, height), expected) in cases {
        let id = app.upload_ok(name, bytes).await;
        let doc = app.finished(id).await;
        assert_eq!(doc["status"], "done", "{name}: {doc}");
        let kind = if name.ends_with(".heic") { "image/heic" } else { "image/avif" };
        assert_eq!(doc["content_type"], kind, "{name}: {doc}");
        let small = thumbnail(&app, id, 128).await;
        assert_eq!(small.dimensions(), fit(width, height, 128), "{name}");
        assert_eq!(corners(&small), expected, "{name}: corners upright");
        let whole = thumbnail(&app, id, 1024).await;
        assert_eq!(whole.dimensions(), (width, height), "{name}: not upscaled");
    }
    app.stop().await;
}

/// Mirrored (`imir`, either axis, after a turn): imaged shows what
/// libheif's own `heif-convert` shows, the mirroring applied once.
#[actix_web::test]
async fn mirrored_heics_come_out_as_libheifs_own_converter_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    for (irot, axis) in [(0, 0), (0, 1), (1, 0)] {
        let bytes = heif(Codec::Hevc, 160, 120, Layout { imir: Some(axis), irot, ..Layout::PLAIN });
        let (file, png) = (dir.path().join("mirrored.heic"), dir.path().join("mirrored.png"));
        std::fs::write(&file, &bytes).unwrap();
        let converted = std::process::Command::new("heif-convert").arg(&file).arg(&png).output().unwrap();
        assert!(converted.status.success(), "heif-convert: {}", String::from_utf8_lossy(&converted.stderr));
        let reference = corners(&image::open(&png).unwrap().to_rgb8());
        assert!(reference != [0, 1, 2, 3] && reference != [1, 3, 0, 2], "irot {irot}, imir {axis}: {reference:?}");

        let id = app.upload_ok("mirrored.heic", bytes).await;
        assert_eq!(app.finished(id).await["status"], "done");
        assert_eq!(corners(&thumbnail(&app, id, 128).await), reference, "irot {irot}, imir {axis}");
    }
    app.stop().await;
}

/// A phone's wide-gamut photo: Display P3 said by an ICC profile (as
/// iPhones write it) or by `nclx` primaries (as Android phones do) comes
/// out converted to sRGB, as a JPEG's profile does.
#[actix_web::test]
async fn display_p3_by_icc_or_nclx_is_brought_to_srgb() {
    use moxcms::{ColorProfile, Layout as Channels, TransformOptions};
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let p3 = [200u8, 100, 50];
    let tile = RgbImage::from_pixel(64, 64, image::Rgb(p3));
    let (source, srgb) = (ColorProfile::new_display_p3(), ColorProfile::new_srgb());
    let transform = source.create_transform_8bit(Channels::Rgb, &srgb, Channels::Rgb, TransformOptions::default());
    let mut want = [0u8; 3];
    transform.unwrap().transform(&p3, &mut want).unwrap();
    let far =
        |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).map(|(x, y)| (i32::from(*x) - i32::from(y)).abs()).max().unwrap();
    assert!(far(p3, want) >= 15, "P3 {p3:?} is sRGB {want:?}: too close to tell apart");
    // nclx: P3 primaries (12), sRGB's curve (13), BT.601 matrix (6), full range.
    let nclx = [&12u16.to_be_bytes()[..], &13u16.to_be_bytes(), &6u16.to_be_bytes(), &[0x80]].concat();
    let icc = source.encode().unwrap();
    for (name, colour) in [("icc.heic", (b"prof", &icc[..])), ("nclx.avif", (b"nclx", &nclx[..]))] {
        let codec = if name.ends_with(".heic") { Codec::Hevc } else { Codec::Av1 };
        let id = app.upload_ok(name, heif_of(codec, &tile, Layout::PLAIN, Some(colour))).await;
        assert_eq!(app.finished(id).await["status"], "done", "{name}");
        let got = thumbnail(&app, id, 128).await.get_pixel(32, 32).0;
        assert!(far(got, want) <= 6, "{name}: {got:?}, want about {want:?} (P3 {p3:?} unconverted)");
    }
    app.stop().await;
}

#[actix_web::test]
async fn hostile_heic_and_avif_fail_with_a_reason_and_leave_only_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let heic = heif(Codec::Hevc, 160, 120, Layout::PLAIN);
    let avif = heif(Codec::Av1, 160, 120, Layout::PLAIN);
    let bomb = |size| heif(Codec::Hevc, 64, 64, Layout { declared: Some(size), ..Layout::PLAIN });
    let cases = [
        ("cut.heic", heic[..heic.len() * 2 / 3].to_vec(), "truncated"),
        ("cut.avif", avif[..avif.len() * 2 / 3].to_vec(), "truncated"),
        // Past libheif's own limit of 32768 a side, then past imaged's
        // pixel limit (50 MP by default) though within libheif's.
        ("bomb.heic", bomb((100_000, 100_000)), "too large: Image size 100000x100000"),
        ("big.heic", bomb((20_000, 20_000)), "20000x20000 = 400000000 pixels, above the limit"),
    ];
    for (name, bytes, reason) in cases {
        let id = app.upload_ok(name, bytes).await;
        let doc = app.finished(id).await;
        assert_eq!(doc["status"], "failed", "{name}: {doc}");
        assert!(doc["error"].as_str().unwrap().contains(reason), "{name}: {doc}");
        assert_eq!(doc["thumbnails"], serde_json::json!([]), "{name}");
    }
    let keys = app.blob_keys().await;
    assert!(keys.iter().all(|key| key.starts_with("images/")), "only originals: {keys:?}");
    assert_eq!(keys.len(), 4, "{keys:?}");
    app.stop().await;
}

/// A host without libheif (here: a `libheif.so.1` that is no library,
/// found first on `LD_LIBRARY_PATH`) runs all the same: `--version` says
/// why HEIC and AVIF are not read, their uploads are refused with that
/// reason and nothing stored, and JPEGs are made as ever.
#[actix_web::test]
async fn without_libheif_heic_and_avif_are_refused_with_the_reason_and_the_rest_works() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::write(lib.join("libheif.so.1"), b"not a library").unwrap();
    let env = [("LD_LIBRARY_PATH".to_owned(), lib.display().to_string())];
    let version = common::imaged_command().arg("--version").envs(env.clone()).output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    assert!(version.contains("HEIC/AVIF: no: libheif.so.1 cannot be loaded ("), "{version}");

    let daemon = common::Daemon::start(dir.path(), &env);
    let client = reqwest::Client::new();
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let form =
            reqwest::multipart::Form::new().part("upfile", reqwest::multipart::Part::bytes(bytes).file_name(name));
        client.post(daemon.url("/api/image")).multipart(form).send()
    };
    for (name, codec) in [("phone.heic", Codec::Hevc), ("phone.avif", Codec::Av1)] {
        let response = upload(name, heif(codec, 64, 48, Layout::PLAIN)).await.unwrap();
        assert_eq!(response.status(), 415, "{name}");
        let problem: serde_json::Value = response.json().await.unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("need libheif, and this host has none: libheif.so.1 cannot be loaded"), "{problem}");
        assert!(detail.ends_with("nothing was stored"), "{problem}");
    }
    let grant = client.get(daemon.url("/api/image/upload_url?filename=a.heic&content_type=image/heic&size=9"));
    assert_eq!(grant.send().await.unwrap().status(), 415, "nor is a direct upload granted");
    let response = upload("photo.jpg", common::jpeg(64, 48)).await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    daemon.done(id, std::time::Instant::now() + std::time::Duration::from_secs(60)).await;
    let images = reqwest::get(daemon.url("/api/image")).await.unwrap().json::<serde_json::Value>().await.unwrap();
    assert_eq!(images.as_array().unwrap().len(), 1, "only the JPEG: {images}");
}
