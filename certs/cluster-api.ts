// What certs/ needs of the Kubernetes API, so that it imports nothing from server/: the server hands
// it its client (server/cluster/kube-client.ts KubeClient fits this shape), and a failed request is
// told apart by the HTTP status it carries.
export interface ClusterApi {
  request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    req?: { body?: unknown; contentType?: string; operation?: string },
  ): Promise<T>;
}

/** The HTTP status of a failed API request (404, 409...), undefined for any other error. */
export function apiStatusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
}
