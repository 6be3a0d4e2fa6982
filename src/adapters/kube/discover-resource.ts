import type { KubeClient } from "./kube-client.ts";

/**
 * Whether the API server serves `resource` in `group/version`, by its discovery document
 * (`GET /apis/<group>/<version>`): `true`, `false` (404, or the list does not name it), or `undefined`
 * when it could not tell (no answer, another failure).
 */
export async function discoverResource(
  client: Pick<KubeClient, "request">,
  group: string,
  version: string,
  resource: string,
): Promise<boolean | undefined> {
  let response: Awaited<ReturnType<KubeClient["request"]>>;
  try {
    response = await client.request("GET", `/apis/${group}/${version}`, { timeoutMs: 10_000 });
  } catch {
    return undefined;
  }
  if (!response.ok) return response.status.code === 404 ? false : undefined;
  try {
    const list = JSON.parse(response.text) as { resources?: unknown };
    return Array.isArray(list.resources) && list.resources.some((r) => r?.name === resource);
  } catch {
    return undefined;
  }
}
