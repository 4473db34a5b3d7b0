// node:sea — an extension is never a single executable application.
export const isSea = () => false;
export function getAsset(key) {
  throw Object.assign(new Error(`pi-sandbox: no single-executable asset '${String(key)}'`), { code: "ERR_NOT_IN_SINGLE_EXECUTABLE_APPLICATION" });
}
export const getAssetAsBlob = getAsset;
export const getRawAsset = getAsset;
export default { isSea, getAsset, getAssetAsBlob, getRawAsset };
