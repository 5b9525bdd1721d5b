declare module 'proxy-from-env' {
  /** The proxy URL for `url` from http_proxy/https_proxy/no_proxy, or '' for a direct connection. */
  export function getProxyForUrl(url: string | URL): string;
}
