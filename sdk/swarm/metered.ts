/**
 * Whether the browser says this connection costs the viewer per byte: Save-Data on, or a
 * cellular or metered link (`navigator.connection`, Chromium-based browsers). Uploading to
 * peers there would spend the viewer's data plan on the site's CDN bill.
 */
export function onMeteredConnection(): boolean {
  const connection = (globalThis.navigator as { connection?: { saveData?: boolean; type?: string; metered?: boolean } } | undefined)?.connection;
  return connection?.saveData === true || connection?.type === 'cellular' || connection?.metered === true;
}
