/**
 * The request context handed to the Glance driver (the seed's `context`): whose request this is. A user token is sent to
 * Glance as the user's own (`X-Auth-Token`), and the project, roles and admin flag drive the reference's access rules.
 * Ironic's snake_case `RequestContext` fields (`auth_token`, `project_id`, `is_admin`, `global_request_id`, `user_id`)
 * are read too.
 */
export interface GlanceRequestContext {
  /** The user's Keystone token, sent to Glance instead of the service's own. */
  authToken?: string;
  /** The caller's project id: its private images, and shared images it accepted, are visible. */
  projectId?: string;
  /** The caller's role names; `admin` sees every image. */
  roles?: readonly string[];
  /** Whether the caller is an administrator (sees every image). */
  isAdmin?: boolean;
  /** A global request id (`req-<uuid>`), sent as `X-OpenStack-Request-ID` to tie the calls together in the logs. */
  globalRequestId?: string;
  /** The caller's user id (informational). */
  userId?: string;
}

/** A request context from whatever the caller handed in (camelCase or Ironic's snake_case), or undefined. */
export function toRequestContext(value: unknown): GlanceRequestContext | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const source = value as Record<string, unknown>;
  const text = (...names: string[]) => {
    for (const name of names) {
      const field = source[name];
      if (typeof field === 'string' && field !== '') return field;
    }
    return undefined;
  };
  const context: GlanceRequestContext = {};
  const authToken = text('authToken', 'auth_token');
  const projectId = text('projectId', 'project_id');
  const globalRequestId = text('globalRequestId', 'global_request_id');
  const userId = text('userId', 'user_id');
  if (authToken !== undefined) context.authToken = authToken;
  if (projectId !== undefined) context.projectId = projectId;
  if (globalRequestId !== undefined) context.globalRequestId = globalRequestId;
  if (userId !== undefined) context.userId = userId;
  const roles = source.roles;
  if (Array.isArray(roles)) context.roles = roles.filter((role): role is string => typeof role === 'string');
  const isAdmin = source.isAdmin ?? source.is_admin;
  if (typeof isAdmin === 'boolean') context.isAdmin = isAdmin;
  return context;
}

/** The `X-OpenStack-Request-ID` value, when the id has the form services accept (`req-<uuid>`). */
export function globalRequestIdHeader(context: GlanceRequestContext | undefined): string | undefined {
  const id = context?.globalRequestId;
  return id && /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
    ? id
    : undefined;
}
