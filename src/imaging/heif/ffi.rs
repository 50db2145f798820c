//! libheif, loaded at run time from the system's `libheif.so.1` (Debian's
//! libheif1; `dnf install libheif` elsewhere) rather than linked: a host
//! without it still runs imaged, and refuses HEIC and AVIF with a reason.
//! Only the few calls that reading the primary image and writing an AVIF
//! take are declared, as libheif 1.13 and later export them; the wrappers
//! below own what libheif allocates and free it once.

use std::{
    ffi::{CStr, c_char, c_int, c_void},
    marker::PhantomData,
    sync::OnceLock,
};

use libloading::Library;

#[repr(C)]
pub struct RawContext([u8; 0]);
#[repr(C)]
pub struct RawHandle([u8; 0]);
#[repr(C)]
pub struct RawImage([u8; 0]);
#[repr(C)]
pub struct RawEncoder([u8; 0]);

/// `struct heif_writer`, version 1.
#[repr(C)]
struct RawWriter {
    writer_api_version: c_int,
    write: unsafe extern "C" fn(*mut RawContext, *const c_void, usize, *mut c_void) -> RawError,
}

#[repr(C)]
pub struct RawError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

/// The leading fields of `struct heif_color_profile_nclx`.
#[repr(C)]
struct RawNclx {
    version: u8,
    color_primaries: c_int,
}

macro_rules! api {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The functions imaged calls, found in the library once.
        #[allow(non_snake_case)]
        struct Api {
            version: String,
            $($name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Api {
            /// # Safety
            /// The signatures above must be libheif's, as its `heif.h` gives them.
            unsafe fn load(library: &'static Library) -> Result<Self, libloading::Error> {
                $(let $name = unsafe { *library.get(concat!(stringify!($name), "\0").as_bytes())? };)*
                let version: unsafe extern "C" fn() -> *const c_char =
                    unsafe { *library.get(b"heif_get_version\0")? };
                // SAFETY: a static, NUL-terminated string.
                let version = unsafe { CStr::from_ptr(version()) }.to_string_lossy().into_owned();
                Ok(Self { version, $($name,)* })
            }
        }
    };
}

api! {
    heif_init: fn(*mut c_void) -> RawError;
    heif_context_alloc: fn() -> *mut RawContext;
    heif_context_free: fn(*mut RawContext);
    heif_context_read_from_memory_without_copy: fn(*mut RawContext, *const c_void, usize, *const c_void) -> RawError;
    heif_context_set_max_decoding_threads: fn(*mut RawContext, c_int);
    heif_context_get_primary_image_handle: fn(*mut RawContext, *mut *mut RawHandle) -> RawError;
    heif_image_handle_release: fn(*const RawHandle);
    heif_image_handle_get_width: fn(*const RawHandle) -> c_int;
    heif_image_handle_get_height: fn(*const RawHandle) -> c_int;
    heif_image_handle_has_alpha_channel: fn(*const RawHandle) -> c_int;
    heif_image_handle_get_luma_bits_per_pixel: fn(*const RawHandle) -> c_int;
    heif_image_handle_get_raw_color_profile_size: fn(*const RawHandle) -> usize;
    heif_image_handle_get_raw_color_profile: fn(*const RawHandle, *mut c_void) -> RawError;
    heif_image_handle_get_nclx_color_profile: fn(*const RawHandle, *mut *mut RawNclx) -> RawError;
    heif_nclx_color_profile_free: fn(*mut RawNclx);
    heif_decode_image: fn(*const RawHandle, *mut *mut RawImage, c_int, c_int, *const c_void) -> RawError;
    heif_image_get_plane_readonly: fn(*const RawImage, c_int, *mut c_int) -> *const u8;
    heif_image_get_width: fn(*const RawImage, c_int) -> c_int;
    heif_image_get_height: fn(*const RawImage, c_int) -> c_int;
    heif_image_release: fn(*const RawImage);
    heif_image_create: fn(c_int, c_int, c_int, c_int, *mut *mut RawImage) -> RawError;
    heif_image_add_plane: fn(*mut RawImage, c_int, c_int, c_int, c_int) -> RawError;
    heif_image_get_plane: fn(*mut RawImage, c_int, *mut c_int) -> *mut u8;
    heif_context_get_encoder_for_format: fn(*mut RawContext, c_int, *mut *mut RawEncoder) -> RawError;
    heif_encoder_set_lossy_quality: fn(*mut RawEncoder, c_int) -> RawError;
    heif_encoder_set_parameter_integer: fn(*mut RawEncoder, *const c_char, c_int) -> RawError;
    heif_encoder_release: fn(*mut RawEncoder);
    heif_context_encode_image: fn(*mut RawContext, *const RawImage, *mut RawEncoder, *const c_void, *mut *mut RawHandle) -> RawError;
    heif_context_write: fn(*mut RawContext, *mut RawWriter, *mut c_void) -> RawError;
}

const SONAME: &str = "libheif.so.1";
const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHROMA_INTERLEAVED_RGBA: c_int = 11;
const CHANNEL_INTERLEAVED: c_int = 10;
const COMPRESSION_AV1: c_int = 4;
pub const SUBERROR_END_OF_DATA: c_int = 100;
pub const SUBERROR_SECURITY_LIMIT_EXCEEDED: c_int = 1000;

/// libheif, loaded and initialised at the first call; why not, if it
/// cannot be.
fn api() -> Result<&'static Api, &'static str> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        let missing = |e: libloading::Error| {
            let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
            format!("{SONAME} cannot be loaded ({why}); install libheif")
        };
        // SAFETY: loading runs libheif's initialisers, which only set up
        // its codec registry. The library stays loaded for good.
        let library: &'static Library = Box::leak(Box::new(unsafe { Library::new(SONAME) }.map_err(missing)?));
        // SAFETY: the declarations above follow libheif's heif.h.
        let api = unsafe { Api::load(library) }.map_err(missing)?;
        // SAFETY: NULL asks for the default parameters.
        check(unsafe { (api.heif_init)(std::ptr::null_mut()) }).map_err(|e| e.message)?;
        Ok(api)
    })
    .as_ref()
    .map_err(String::as_str)
}

/// The version of libheif in use, or why there is none.
pub fn version() -> Result<&'static str, &'static str> {
    api().map(|api| api.version.as_str())
}

#[derive(Debug)]
pub struct Error {
    pub subcode: c_int,
    pub message: String,
}

fn check(raw: RawError) -> Result<(), Error> {
    if raw.code == 0 {
        return Ok(());
    }
    // SAFETY: libheif's messages are static, NUL-terminated strings.
    let message = if raw.message.is_null() { "" } else { &unsafe { CStr::from_ptr(raw.message) }.to_string_lossy() };
    Err(Error { subcode: raw.subcode, message: message.trim().to_owned() })
}

/// A parsed file: its boxes read, nothing decoded. It reads `bytes` in
/// place, so it borrows them.
pub struct Context<'a> {
    api: &'static Api,
    raw: *mut RawContext,
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> Context<'a> {
    /// An empty context, to read into or encode into.
    fn new() -> Result<Self, Error> {
        let api = api().map_err(|why| Error { subcode: 0, message: why.to_owned() })?;
        // SAFETY: a fresh context, owned by the value returned (freed on drop).
        let raw = unsafe { (api.heif_context_alloc)() };
        assert!(!raw.is_null(), "libheif could not allocate a context");
        Ok(Self { api, raw, _bytes: PhantomData })
    }

    pub fn read(bytes: &'a [u8]) -> Result<Self, Error> {
        let context = Self::new()?;
        // SAFETY: `bytes` outlive the context, which borrows them.
        let read = unsafe {
            (context.api.heif_context_read_from_memory_without_copy)(
                context.raw,
                bytes.as_ptr().cast(),
                bytes.len(),
                std::ptr::null(),
            )
        };
        check(read)?;
        Ok(context)
    }

    /// Tiles of a grid decoded at once (libheif's default: one per core).
    pub fn set_max_decoding_threads(&mut self, threads: c_int) {
        // SAFETY: a live context.
        unsafe { (self.api.heif_context_set_max_decoding_threads)(self.raw, threads) }
    }

    pub fn primary(&self) -> Result<Handle<'_>, Error> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live context; the handle is released on drop.
        check(unsafe { (self.api.heif_context_get_primary_image_handle)(self.raw, &mut raw) })?;
        Ok(Handle { api: self.api, raw, _context: PhantomData })
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by heif_context_alloc, freed once; handles borrow
        // the context and are gone by now.
        unsafe { (self.api.heif_context_free)(self.raw) }
    }
}

/// The primary image of a [`Context`], as its boxes declare it.
pub struct Handle<'c> {
    api: &'static Api,
    raw: *mut RawHandle,
    _context: PhantomData<&'c ()>,
}

impl Handle<'_> {
    /// Width and height after the file's rotation and mirroring.
    pub fn size(&self) -> (u32, u32) {
        // SAFETY: a live handle; libheif's sizes are never negative.
        let (w, h) = unsafe {
            ((self.api.heif_image_handle_get_width)(self.raw), (self.api.heif_image_handle_get_height)(self.raw))
        };
        (w.max(0) as u32, h.max(0) as u32)
    }

    pub fn has_alpha(&self) -> bool {
        // SAFETY: a live handle.
        unsafe { (self.api.heif_image_handle_has_alpha_channel)(self.raw) != 0 }
    }

    pub fn luma_bits(&self) -> i32 {
        // SAFETY: a live handle.
        unsafe { (self.api.heif_image_handle_get_luma_bits_per_pixel)(self.raw) }
    }

    /// The ICC profile (`prof` or `rICC`), if the image has one.
    pub fn icc(&self) -> Option<Vec<u8>> {
        // SAFETY: a live handle; libheif writes exactly `size` bytes.
        let size = unsafe { (self.api.heif_image_handle_get_raw_color_profile_size)(self.raw) };
        if size == 0 {
            return None;
        }
        let mut icc = vec![0u8; size];
        let read = unsafe { (self.api.heif_image_handle_get_raw_color_profile)(self.raw, icc.as_mut_ptr().cast()) };
        check(read).ok().map(|()| icc)
    }

    /// The colour primaries of an `nclx` colour box (ITU-T H.273 numbers).
    pub fn nclx_primaries(&self) -> Option<i32> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live handle; the profile libheif allocates is freed here.
        let read = unsafe { (self.api.heif_image_handle_get_nclx_color_profile)(self.raw, &mut raw) };
        if check(read).is_err() || raw.is_null() {
            return None;
        }
        // SAFETY: a profile libheif just filled in, then freed once.
        let primaries = unsafe { (*raw).color_primaries };
        unsafe { (self.api.heif_nclx_color_profile_free)(raw) };
        Some(primaries)
    }

    /// Decodes to interleaved 8-bit RGB (RGBA with `alpha`), rotated and
    /// mirrored as the file says; deeper samples are brought to 8 bits.
    pub fn decode(&self, alpha: bool) -> Result<Image, Error> {
        let chroma = if alpha { CHROMA_INTERLEAVED_RGBA } else { CHROMA_INTERLEAVED_RGB };
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live handle; the image is released on drop.
        let decoded =
            unsafe { (self.api.heif_decode_image)(self.raw, &mut raw, COLORSPACE_RGB, chroma, std::ptr::null()) };
        check(decoded)?;
        Ok(Image { api: self.api, raw })
    }
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        // SAFETY: obtained from the context, released once.
        unsafe { (self.api.heif_image_handle_release)(self.raw) }
    }
}

/// Decoded pixels, owned by libheif until dropped.
pub struct Image {
    api: &'static Api,
    raw: *mut RawImage,
}

impl Image {
    /// Width, height, row stride and the rows of the interleaved plane.
    pub fn interleaved(&self) -> Option<(u32, u32, usize, &[u8])> {
        let mut stride: c_int = 0;
        // SAFETY: a live image; the plane lives as long as it does, and
        // holds `height` rows of `stride` bytes.
        unsafe {
            let data = (self.api.heif_image_get_plane_readonly)(self.raw, CHANNEL_INTERLEAVED, &mut stride);
            let width = (self.api.heif_image_get_width)(self.raw, CHANNEL_INTERLEAVED);
            let height = (self.api.heif_image_get_height)(self.raw, CHANNEL_INTERLEAVED);
            if data.is_null() || width <= 0 || height <= 0 || stride <= 0 {
                return None;
            }
            let (height, stride) = (height as usize, stride as usize);
            Some((width as u32, height as u32, stride, std::slice::from_raw_parts(data, stride * height)))
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: decoded by heif_decode_image, released once.
        unsafe { (self.api.heif_image_release)(self.raw) }
    }
}

/// Interleaved 8-bit RGB rows (`stride` bytes apart) as a lossy AVIF, by
/// libheif's AV1 encoder (libaom) at `quality` (0–100) and `speed` (0–9),
/// on this thread alone, 4:2:0.
pub fn encode_avif(width: u32, height: u32, rgb: &[u8], quality: u8, speed: u8) -> Result<Vec<u8>, Error> {
    let context = Context::new()?;
    let api = context.api;
    let (w, h) = (c_int::try_from(width).expect("a thumbnail's width"), c_int::try_from(height).expect("its height"));
    let mut raw = std::ptr::null_mut();
    // SAFETY: a fresh image, released by `Image`'s drop.
    check(unsafe { (api.heif_image_create)(w, h, COLORSPACE_RGB, CHROMA_INTERLEAVED_RGB, &mut raw) })?;
    let image = Image { api, raw };
    check(unsafe { (api.heif_image_add_plane)(image.raw, CHANNEL_INTERLEAVED, w, h, 8) })?;
    let mut stride: c_int = 0;
    // SAFETY: the plane just added: `height` rows of `stride` ≥ 3·width bytes.
    let plane = unsafe { (api.heif_image_get_plane)(image.raw, CHANNEL_INTERLEAVED, &mut stride) };
    assert!(!plane.is_null() && stride as usize >= width as usize * 3, "libheif gave no plane to fill");
    let plane = unsafe { std::slice::from_raw_parts_mut(plane, stride as usize * height as usize) };
    for (to, from) in plane.chunks_mut(stride as usize).zip(rgb.chunks(width as usize * 3)) {
        to[..from.len()].copy_from_slice(from);
    }

    let mut encoder = std::ptr::null_mut();
    check(unsafe { (api.heif_context_get_encoder_for_format)(context.raw, COMPRESSION_AV1, &mut encoder) })?;
    // SAFETY: the encoder is released once, whatever happens between.
    let encoded = (|| unsafe {
        check((api.heif_encoder_set_lossy_quality)(encoder, c_int::from(quality)))?;
        check((api.heif_encoder_set_parameter_integer)(encoder, c"speed".as_ptr(), c_int::from(speed)))?;
        check((api.heif_encoder_set_parameter_integer)(encoder, c"threads".as_ptr(), 1))?;
        check((api.heif_context_encode_image)(context.raw, image.raw, encoder, std::ptr::null(), std::ptr::null_mut()))
    })();
    unsafe { (api.heif_encoder_release)(encoder) };
    encoded?;

    unsafe extern "C" fn append(_: *mut RawContext, data: *const c_void, size: usize, out: *mut c_void) -> RawError {
        // SAFETY: `out` is the Vec passed below; libheif gives `size` bytes.
        unsafe { (*out.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), size)) };
        RawError { code: 0, subcode: 0, message: c"".as_ptr() }
    }
    let mut out = Vec::new();
    let mut writer = RawWriter { writer_api_version: 1, write: append };
    // SAFETY: `writer` and `out` outlive the call, which is all that uses them.
    check(unsafe { (api.heif_context_write)(context.raw, &mut writer, (&raw mut out).cast()) })?;
    Ok(out)
}
