/** Tensor file I/O on plain arrays: safetensors, .npy and .npz. */
export { FormatError } from './errors.js';
export { type ArrayData, type DType, f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from './dtype.js';
export {
  MAX_SAFETENSORS_HEADER,
  type SafetensorsMetadata,
  type SafetensorsWriteOptions,
  type SafetensorsTensorInfo,
  type SafetensorsFile,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
  openSafetensors,
} from './safetensors.js';
export { MAX_NPY_HEADER, type NpyHeader, type NpyFile, parseNpyHeader, parseNpyHeaderDict, parseNpy, readNpy, serializeNpy, writeNpy, openNpy } from './npy.js';
export { type NpzWriteOptions, parseNpz, readNpz, serializeNpz, writeNpz } from './npz.js';
export { type ZipEntry, crc32, listZip, extractZipEntry, buildZip } from './zip.js';
export { writeFileAtomic } from './fsutil.js';
