//! The console's templates, embedded in the binary: the release binary alone is a
//! deployment, started from any directory. Rocket's `template_dir` setting may still name
//! a directory whose `*.html.tera` files replace the embedded ones of the same name (for
//! customising); it is read once at start, and a named directory that is missing stops
//! the start.
//!
//! Why not `rocket_dyn_templates`: it finds templates only by walking `template_dir` and
//! refuses to start without it; templates added in its callback get a `text/plain`
//! content type and, having no `.html` file name, no HTML escaping.

use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder};
use serde::Serialize;
use std::borrow::Cow;
use std::path::Path;
use tera::Tera;

/// Declares the embedded templates by name (their path under `templates/`, without
/// `.html.tera`).
macro_rules! embedded {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name, ".html.tera")))),+]
    };
}

/// Every template of the console, compiled into the binary.
const EMBEDDED: &[(&str, &str)] = embedded![
    "base",
    "_csrf",
    "_flash",
    "error",
    "admin/alerts",
    "admin/api_keys",
    "admin/approvals",
    "admin/audit",
    "admin/drift",
    "admin/events",
    "admin/webhooks",
    "admin/factor",
    "admin/hardware",
    "admin/import",
    "admin/login",
    "admin/oob",
    "admin/outbox",
    "admin/overview",
    "admin/passkeys",
    "admin/password",
    "admin/secret",
    "admin/sessions",
    "admin/staff",
    "admin/tokens/_action",
    "admin/tokens/activate",
    "admin/tokens/delete",
    "admin/tokens/enroll",
    "admin/tokens/enrolled",
    "admin/tokens/resync",
    "admin/tokens/tempcode",
    "admin/users/_explain",
    "admin/users/_phone",
    "admin/users/detail",
    "admin/users/list",
    "admin/users/new",
    "admin/users/phone",
];

/// The compiled templates, managed by Rocket.
pub struct Templates(Tera);

impl Templates {
    /// The embedded templates, overridden by the `*.html.tera` files of `dir` when given.
    pub fn load(dir: Option<&Path>) -> Result<Templates, String> {
        let mut tera = Tera::default();
        // Every template is HTML: everything is escaped unless a template says `| safe`.
        tera.autoescape_on(vec![""]);
        tera.add_raw_templates(EMBEDDED.iter().copied())
            .map_err(|e| format!("embedded templates: {e:?}"))?;
        for (name, _) in EMBEDDED {
            tracing::trace!(template = name, "console template embedded");
        }
        if let Some(dir) = dir {
            let files = override_files(dir)?;
            tera.add_template_files(files.iter().map(|(path, name)| (path, Some(name))))
                .map_err(|e| format!("templates in {}: {e:?}", dir.display()))?;
            for (path, name) in &files {
                tracing::debug!(template = %name, path = %path.display(), "console template overridden");
            }
        }
        Ok(Templates(tera))
    }
}

/// The `*.html.tera` files under `dir`, with their template names.
fn override_files(dir: &Path) -> Result<Vec<(std::path::PathBuf, String)>, String> {
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut Vec<(std::path::PathBuf, String)>,
    ) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if let Some(rel) = path.strip_prefix(root).ok().and_then(Path::to_str) {
                if let Some(name) = rel.strip_suffix(".html.tera") {
                    out.push((path.clone(), name.replace('\\', "/")));
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out).map_err(|e| format!("template_dir {}: {e}", dir.display()))?;
    Ok(out)
}

/// A page to render: the console's handlers answer this.
pub struct Template {
    name: Cow<'static, str>,
    context: Result<tera::Context, tera::Error>,
}

impl Template {
    /// The page `name` with `context`.
    pub fn render(name: impl Into<Cow<'static, str>>, context: impl Serialize) -> Template {
        Template {
            name: name.into(),
            context: tera::Context::from_serialize(context),
        }
    }
}

impl<'r> Responder<'r, 'static> for Template {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let templates = req
            .rocket()
            .state::<Templates>()
            .ok_or(Status::InternalServerError)?;
        let html = self
            .context
            .and_then(|c| templates.0.render(&self.name, &c))
            .map_err(|e| {
                tracing::error!(template = %self.name, "a console page did not render: {e:?}");
                Status::InternalServerError
            })?;
        (ContentType::HTML, html).respond_to(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_embedded_and_compiles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk: Vec<String> = override_files(&root)
            .unwrap()
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "templates/ and the embedded list differ");
        let t = Templates::load(None).unwrap();
        let html =
            t.0.render(
                "_flash",
                &tera::Context::from_serialize(serde_json::json!({
                    "page": {"flash": ["error", "<script>x</script>"]}
                }))
                .unwrap(),
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;"), "escaped: {html}");
    }

    #[test]
    fn a_template_dir_overrides_an_embedded_template_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("admin")).unwrap();
        std::fs::write(dir.path().join("admin/login.html.tera"), "custom {{ who }}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let ctx = tera::Context::from_serialize(serde_json::json!({"who": "<b>"})).unwrap();
        assert_eq!(t.0.render("admin/login", &ctx).unwrap(), "custom &lt;b&gt;");
        assert!(Templates::load(Some(Path::new("/nonexistent/templates"))).is_err());
    }
}
