"""load_xray: every input kind, and typed errors for bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from data.errors import ImageLoadError
from data.io import load_xray, resize_square


@pytest.fixture
def gradient() -> np.ndarray:
    """uint8 (40, 60) horizontal ramp with a bright square: orientation-sensitive."""
    img = np.tile(np.linspace(0, 255, 60), (40, 1)).astype(np.uint8)
    img[5:15, 5:15] = 255
    return img


def _check(out: np.ndarray, shape) -> None:
    assert out.dtype == np.float32
    assert out.shape == shape
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_8bit_grayscale(tmp_path, gradient):
    Image.fromarray(gradient).save(tmp_path / "a.png")
    out = load_xray(tmp_path / "a.png")
    _check(out, gradient.shape)
    np.testing.assert_allclose(out, gradient / 255.0, atol=1e-6)


def test_16bit_grayscale_matches_8bit(tmp_path, gradient):
    sixteen = gradient.astype(np.uint16) * 257  # 255 -> 65535
    Image.fromarray(sixteen).save(tmp_path / "a16.png")
    out = load_xray(tmp_path / "a16.png")
    _check(out, gradient.shape)
    np.testing.assert_allclose(out, gradient / 255.0, atol=1e-5)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "CMYK"])
def test_colour_modes_become_gray(tmp_path, gradient, mode):
    rgb = Image.fromarray(np.stack([gradient] * 3, axis=-1), "RGB")
    image = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256) if mode == "P" else rgb.convert(mode)
    fmt, name = ("TIFF", "c.tif") if mode == "CMYK" else ("PNG", "c.png")
    image.save(tmp_path / name, format=fmt)
    out = load_xray(tmp_path / name)
    _check(out, gradient.shape)
    # equal channels: luma of gray RGB is the gray value (palette may quantise slightly)
    np.testing.assert_allclose(out, gradient / 255.0, atol=0.03)


def test_cmyk_jpeg(tmp_path, gradient):
    Image.fromarray(np.stack([gradient] * 3, -1), "RGB").convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = load_xray(tmp_path / "c.jpg")
    _check(out, gradient.shape)
    assert np.corrcoef(out.ravel(), gradient.ravel())[0, 1] > 0.95


def test_exif_orientation_applied(tmp_path, gradient):
    image = Image.fromarray(gradient)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    image.save(tmp_path / "o.jpg", exif=exif, quality=100)
    out = load_xray(tmp_path / "o.jpg")
    assert out.shape == (60, 40)  # transposed by the orientation tag
    expected = np.rot90(gradient, k=-1) / 255.0
    assert np.abs(out - expected).mean() < 0.02


def test_png_with_wrong_extension(tmp_path, gradient):
    Image.fromarray(gradient).save(tmp_path / "really_png.jpeg", format="PNG")
    np.testing.assert_allclose(load_xray(tmp_path / "really_png.jpeg"), gradient / 255.0, atol=1e-6)


def _write_dicom(path, pixels: np.ndarray, photometric: str = "MONOCHROME2", slope=1.0, intercept=0.0,
                 window=None):
    from pydicom.dataset import FileMetaDataset, Dataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid, SecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_monochrome2(tmp_path, gradient):
    raw = gradient.astype(np.uint16) * 16  # 12-bit
    _write_dicom(tmp_path / "a.dcm", raw)
    out = load_xray(tmp_path / "a.dcm")
    _check(out, gradient.shape)
    assert np.corrcoef(out.ravel(), gradient.ravel())[0, 1] > 0.999
    assert out[10, 10] > out[30, 1]  # bright square stays bright


def test_dicom_monochrome1_is_inverted(tmp_path, gradient):
    raw = gradient.astype(np.uint16) * 16
    _write_dicom(tmp_path / "m2.dcm", raw)
    _write_dicom(tmp_path / "m1.dcm", raw, photometric="MONOCHROME1")
    np.testing.assert_allclose(load_xray(tmp_path / "m1.dcm"), 1.0 - load_xray(tmp_path / "m2.dcm"), atol=1e-6)


def test_dicom_rescale_and_window(tmp_path, gradient):
    raw = gradient.astype(np.uint16) * 16  # 0..4080
    # slope 2, intercept -1000: values -1000..7160; window centred at 3080 with width 2000
    _write_dicom(tmp_path / "w.dcm", raw, slope=2.0, intercept=-1000.0, window=(3080, 2000))
    out = load_xray(tmp_path / "w.dcm")
    _check(out, gradient.shape)
    modality = raw * 2.0 - 1000.0
    below, above = modality < 2080, modality > 4080
    assert below.any() and above.any()
    assert np.allclose(out[below], 0.0, atol=1e-3)  # under the window: black
    assert np.allclose(out[above], 1.0, atol=1e-3)  # over the window: white
    inside = ~below & ~above
    assert np.corrcoef(out[inside], modality[inside])[0, 1] > 0.99


def test_dicom_detected_by_magic_without_extension(tmp_path, gradient):
    _write_dicom(tmp_path / "noext", gradient.astype(np.uint16))
    assert load_xray(tmp_path / "noext").shape == gradient.shape


def test_bad_inputs_raise_typed_error(tmp_path, gradient):
    (tmp_path / "empty.jpeg").write_bytes(b"")
    (tmp_path / "text.jpeg").write_text("not an image at all")
    buf = io.BytesIO()
    Image.fromarray(gradient).save(buf, format="JPEG")
    (tmp_path / "trunc.jpeg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (tmp_path / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage" * 10)
    cases = {"empty.jpeg": "empty", "text.jpeg": "not a recognised", "trunc.jpeg": "truncated",
             "bad.dcm": "DICOM", "missing.png": "not found"}
    for name, reason in cases.items():
        with pytest.raises(ImageLoadError) as info:
            load_xray(tmp_path / name)
        assert name in str(info.value) and reason in str(info.value), str(info.value)


def test_resize_square_does_not_mutate_and_squeezes(gradient):
    image = gradient / 255.0
    before = image.copy()
    out = resize_square(image.astype(np.float32), 32)
    assert out.shape == (32, 32) and out.dtype == np.float32
    assert np.array_equal(image, before)
    assert 0 <= out.min() and out.max() <= 1
