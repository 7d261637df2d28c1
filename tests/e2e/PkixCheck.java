/*
 * PkixCheck — Java's own PKIX certification path validation with revocation checking,
 * as a Java relying party gets it, for revokd's e2e tests (tests/e2e/test_relying_parties.sh).
 * Nothing revokd-specific: the JDK finds the OCSP responder and the CRLs through the
 * certificates' AIA and CRL Distribution Points and checks every certificate of the path.
 *
 *   java PkixCheck.java MODE ROOT.pem LEAF.pem [INTERMEDIATE.pem ...]
 *
 * MODE: default   revocation enabled, the JDK's default checker untouched (OCSP
 *                 preferred, CRL fallback)
 *       ocsp      a PKIXRevocationChecker with NO_FALLBACK: OCSP only
 *       crl       a PKIXRevocationChecker with PREFER_CRLS, NO_FALLBACK: CRLs only
 * In every mode ONLY_END_ENTITY is off, so the intermediate is checked too.
 *
 * Prints "VALID" and exits 0, or "INVALID reason=R index=I: message" and exits 1
 * (index 0 = the leaf), or exits 2 on a usage or I/O error.
 */
import java.io.FileInputStream;
import java.io.InputStream;
import java.security.Security;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

public class PkixCheck {
    private static X509Certificate load(CertificateFactory cf, String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) cf.generateCertificate(in);
        }
    }

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: java PkixCheck.java default|ocsp|crl ROOT.pem LEAF.pem [INTERMEDIATE.pem ...]");
            System.exit(2);
        }
        // What a Java application sets to get revocation checking over the network.
        Security.setProperty("ocsp.enable", "true");
        System.setProperty("com.sun.security.enableCRLDP", "true");
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            X509Certificate root = load(cf, args[1]);
            List<X509Certificate> certs = new ArrayList<>();
            for (int i = 2; i < args.length; i++)
                certs.add(load(cf, args[i]));
            CertPath path = cf.generateCertPath(certs);
            CertPathValidator v = CertPathValidator.getInstance("PKIX");
            PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
            params.setRevocationEnabled(true);
            switch (args[0]) {
            case "default":
                break;
            case "ocsp":
            case "crl": {
                PKIXRevocationChecker rc = (PKIXRevocationChecker) v.getRevocationChecker();
                rc.setOptions(args[0].equals("ocsp")
                                  ? EnumSet.of(PKIXRevocationChecker.Option.NO_FALLBACK)
                                  : EnumSet.of(PKIXRevocationChecker.Option.PREFER_CRLS,
                                               PKIXRevocationChecker.Option.NO_FALLBACK));
                params.addCertPathChecker(rc);
                break;
            }
            default:
                System.err.println("PkixCheck: unknown mode " + args[0]);
                System.exit(2);
            }
            v.validate(path, params);
            System.out.println("VALID");
            System.exit(0);
        } catch (CertPathValidatorException e) {
            System.out.println("INVALID reason=" + e.getReason() + " index=" + e.getIndex() + ": " + e.getMessage());
            System.exit(1);
        } catch (Exception e) {
            System.out.println("ERROR " + e);
            System.exit(2);
        }
    }
}
